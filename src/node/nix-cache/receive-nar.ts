// PUT /nar/<FileHash>.nar[.ext]: the body is decompressed (as its name says) and ingested
// into castore as it arrives, paced by the store; the file's sha256 must be the FileHash
// its name gives. What comes out is a pending upload: a tree and the NAR's hash and size,
// waiting for the narinfo that names it.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { type BlobService, type Compression, decompress, type DirectoryService, ingestNar } from '../../store/index.js';
import { nix32Encode } from '../../verify/index.js';
import { NixCacheError } from './errors.js';
import type { PendingNar } from './pending-uploads.js';

export interface ReceiveNarOptions {
  readonly store: { blobs: BlobService; directories: DirectoryService };
  readonly fileHash: Uint8Array;
  readonly compression: Compression;
  /** Cap on the body and on the NAR it decompresses to. */
  readonly maxBytes: number;
}

/** Reads and ingests the body of `req`. Throws NixCacheError (4xx) for a body that is not a NAR as named. */
export async function receiveNar(req: AsyncIterable<Uint8Array>, options: ReceiveNarOptions): Promise<PendingNar> {
  const { fileHash, compression, maxBytes } = options;
  const fileSha = createHash('sha256');
  let fileSize = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    for await (const chunk of req) {
      fileSize += chunk.length;
      if (fileSize > maxBytes) throw new NixCacheError(413, 'TOO_LARGE', `NAR upload larger than ${maxBytes} bytes`, fileSize);
      fileSha.update(chunk);
      yield chunk;
    }
  }
  let ingested: Awaited<ReturnType<typeof ingestNar>>;
  try {
    ingested = await ingestNar(decompress(compression, body(), { maxOutputBytes: maxBytes }), options.store);
  } catch (err: unknown) {
    if (err instanceof NixCacheError) throw err;
    if (isClientGone(err)) throw err;
    // A store failure is refused as a 4xx too: Nix 2.8 hangs on a 5xx answer to a PUT.
    const reason = err instanceof Error ? err.message : String(err);
    throw new NixCacheError(400, 'BAD_UPLOAD', `the NAR upload was not stored: ${reason}`, undefined, { cause: err });
  }
  const got = new Uint8Array(fileSha.digest());
  if (!Buffer.from(got).equals(fileHash)) {
    throw new NixCacheError(400, 'BAD_UPLOAD', `the uploaded file hashes to sha256:${nix32Encode(got)}, not the sha256:${nix32Encode(fileHash)} its name gives`, nix32Encode(got));
  }
  return { node: ingested.node, narHash: ingested.narHash, narSize: ingested.narSize, fileHash: got, fileSize };
}

/** The request stream failed because the client went away (nobody is left to answer). */
export function isClientGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'CLIENT_GONE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err instanceof Error && err.message === 'aborted');
}

/** The body of a small request (a narinfo), at most `max` bytes. Throws NixCacheError 413 past it. */
export async function readSmallBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw new NixCacheError(413, 'TOO_LARGE', `body larger than ${max} bytes`, n);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
