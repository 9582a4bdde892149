// /castor/directory/1, serving side: a Directory, or with `recursive` the whole tree
// below it breadth-first (the order getRecursive gives and DirectoryTreeVerifier checks),
// each as a length-prefixed canonical castore message, sent with backpressure.

import { Uint8ArrayList } from 'uint8arraylist';
import { encodeDirectory, type Directory } from '../../store/index.js';
import { MAX_DIRECTORY_BYTES } from '../limits.js';
import { framed, send } from '../stream-io.js';
import { checkRequestDigest } from './blob-serve.js';
import { DirectoryRequest, DirectoryResponse, Status } from './exchange-pb.js';
import { DIRECTORY_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';

const SEND_BYTES = 64 * 1024;

function parseRequest(bytes: Uint8Array): { digest: ReturnType<typeof checkRequestDigest>; recursive: boolean } {
  let req: DirectoryRequest;
  try {
    req = DirectoryRequest.decode(bytes);
  } catch (err: unknown) {
    throw new BadRequestError(`directory request does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { digest: checkRequestDigest(req.digest), recursive: req.recursive };
}

function encodeChecked(dir: Directory): Uint8Array {
  const bytes = encodeDirectory(dir);
  // A Directory this large cannot travel in one message; refuse rather than send half a tree.
  if (bytes.length > MAX_DIRECTORY_BYTES) throw new Error(`a Directory of ${bytes.length} bytes is over the ${MAX_DIRECTORY_BYTES}-byte message limit`);
  return framed(bytes);
}

async function serveDirectory(request: Uint8Array, out: Responder, { data }: ServeSources): Promise<void> {
  const { digest, recursive } = parseRequest(request);
  const dirs: AsyncIterable<Directory> = recursive
    ? data.directories.getRecursive(digest)
    : (async function* () { const d = await data.directories.get(digest); if (d !== undefined) yield d; })();
  const it = dirs[Symbol.asyncIterator]();
  try {
    const first = await it.next();
    if (first.done) {
      await out.header(DirectoryResponse.encode({ status: Status.NOT_FOUND, error: '' }));
      return;
    }
    await out.header(DirectoryResponse.encode({ status: Status.OK, error: '' }));
    let batch = new Uint8ArrayList(encodeChecked(first.value));
    for (let r = await it.next(); !r.done; r = await it.next()) {
      batch.append(encodeChecked(r.value));
      if (batch.byteLength >= SEND_BYTES) {
        await send(out.stream, batch);
        batch = new Uint8ArrayList();
      }
    }
    await send(out.stream, batch);
  } finally {
    await it.return?.();
  }
}

export const directoryHandler: ProtocolHandler = {
  protocol: DIRECTORY_PROTOCOL,
  errorHeader: (status, error) => DirectoryResponse.encode({ status, error }),
  serve: serveDirectory,
};
