// /castor/blob/1, serving side: a BlobRequest (digest, ranges, group log) answered with a
// BlobResponse header and the bao slice of those ranges, verified as it is read from the
// disk store and sent with backpressure, never holding more than a block of the blob.

import { normalizeRanges, verifiedSliceBlocks, walk, WHOLE, type ByteRange } from '../../verify/index.js';
import { BLOB_GROUP_LOG } from '../../store/index.js';
import { asDigest, type Digest } from '../../store/index.js';
import type { DataDir } from '../../store/index.js';
import { PartialBlob } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { MAX_BLOB_SERVES_PER_PEER, MAX_CONCURRENT_BLOB_SERVES, MAX_RANGES } from '../limits.js';
import { send } from '../stream-io.js';
import { BlobRequest, BlobResponse, Status } from './exchange-pb.js';
import { BLOB_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';
import { openStoredBlob } from './stored-blob.js';
import { ChunkContent } from './chunk-content.js';
import { servedBytes } from '../swarm/index.js';

export { MAX_CONCURRENT_BLOB_SERVES } from '../limits.js';

/**
 * Content bytes verified and sent at a time: a send is one contiguous block of about this
 * size. Blocks start at FIRST_SEND_BYTES and double up to SEND_BYTES: a short range goes
 * out in pieces that the peer takes in while the next is hashed, a long slice in large
 * sends (1 MiB instead of 256 KiB cut the server's user CPU for a 256 MiB fetch from
 * 2.8-3.0 s to 2.2-2.6 s, 3 interleaved pairs: fewer sends, frames and drain waits).
 */
const SEND_BYTES = 1024 * 1024;
const FIRST_SEND_BYTES = 256 * 1024;

export interface ParsedBlobRequest {
  readonly digest: Digest;
  /** The ranges asked for; WHOLE when none were given. */
  readonly ranges: readonly ByteRange[];
}

function decodeRequest<T>(decodeFn: () => T, what: string): T {
  try {
    return decodeFn();
  } catch (err: unknown) {
    throw new BadRequestError(`${what} does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function checkRequestDigest(bytes: Uint8Array): Digest {
  if (bytes.length !== 32) throw new BadRequestError(`digest is ${bytes.length} bytes, not 32`);
  return asDigest(bytes.slice());
}

/** Validates a BlobRequest; BadRequestError says what is wrong. */
export function parseBlobRequest(bytes: Uint8Array): ParsedBlobRequest {
  const req = decodeRequest(() => BlobRequest.decode(bytes, { limits: { ranges: MAX_RANGES } }), 'blob request');
  const digest = checkRequestDigest(req.digest);
  if (req.groupLog !== BLOB_GROUP_LOG) throw new BadRequestError(`group log ${req.groupLog} is not served (only ${BLOB_GROUP_LOG})`);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const ranges = req.ranges.map((r) => {
    if (r.start > max || r.end > max) throw new BadRequestError(`range ${r.start}..${r.end} is beyond 2^53`);
    if (r.end < r.start) throw new BadRequestError(`range ${r.start}..${r.end} ends before it starts`);
    return { start: Number(r.start), end: Number(r.end) };
  });
  return { digest, ranges: ranges.length === 0 ? WHOLE : ranges };
}

/** The ranges rounded out to whole groups: the content the slice's groups cover. */
export function groupRanges(ranges: readonly ByteRange[], len: number): ByteRange[] {
  const gb = 1024 << BLOB_GROUP_LOG;
  return normalizeRanges(ranges, len).select.map((r) => ({
    start: Math.floor(r.start / gb) * gb,
    end: Math.min(len, Math.ceil(r.end / gb) * gb),
  }));
}

/** Bytes of the slice of `ranges` over content of `len` bytes (header, parents, groups). */
export function sliceLength(len: number, ranges: readonly ByteRange[]): number {
  let n = 8;
  for (const step of walk(len, BLOB_GROUP_LOG, normalizeRanges(ranges, len).select)) {
    if (step.kind === 'parent') n += 64;
    else if (step.kind === 'group') n += step.len;
  }
  return n;
}

async function serveBlob(request: Uint8Array, out: Responder, { data }: ServeSources): Promise<void> {
  const { digest, ranges } = parseBlobRequest(request);
  const blob = await openStoredBlob(data, digest);
  if (blob === undefined) {
    if (!(await servePartial(digest, ranges, out, data))) await out.header(BlobResponse.encode({ status: Status.NOT_FOUND, size: 0n, error: '' }));
    return;
  }
  let content: ChunkContent | undefined;
  try {
    const len = blob.length;
    await out.header(BlobResponse.encode({ status: Status.OK, size: BigInt(len), error: '' }));
    const served = servedBytes(data);
    content = new ChunkContent(blob.layout, await blob.chunksUnder(groupRanges(ranges, len)));
    // Every block is made of nodes checked against the digest: a damaged chunk on disk
    // ends the slice with HASH_MISMATCH before any of its bytes go out. The next block is
    // read and hashed while the stream drains the one before (one block ahead, no more):
    // the work hides behind the wait for the peer's window, instead of following it.
    let sending: Promise<void> = Promise.resolve();
    for await (const block of verifiedSliceBlocks(blob.outboard, content, { hash: digest, groupLog: BLOB_GROUP_LOG, ranges, batchBytes: SEND_BYTES, firstBatchBytes: FIRST_SEND_BYTES })) {
      await sending;
      sending = send(out.stream, block).then(() => served.add(out.peer, block.length));
      // Awaited at the next block or below; a failure meanwhile must not go unhandled.
      sending.catch(() => undefined);
    }
    await sending;
  } finally {
    content?.close();
    await blob.close();
  }
}

/**
 * Serves the slice from a download under way when it holds every group the slice needs
 * (PartialBlob verifies each as it reads it). False when there is no such partial.
 */
async function servePartial(digest: Digest, ranges: readonly ByteRange[], out: Responder, data: DataDir): Promise<boolean> {
  const partial = await PartialBlob.peek(data, digest);
  if (partial === undefined) return false;
  try {
    let pieces: AsyncIterable<Uint8Array>;
    try {
      pieces = partial.slice(ranges);
    } catch (err: unknown) {
      if (err instanceof CastorError && err.code === 'GROUP_NOT_HELD') return false;
      throw err;
    }
    await out.header(BlobResponse.encode({ status: Status.OK, size: BigInt(partial.size), error: '' }));
    const served = servedBytes(data);
    for await (const piece of pieces) {
      await send(out.stream, piece);
      served.add(out.peer, piece.length);
    }
    return true;
  } finally {
    await partial.close();
  }
}

export const blobHandler: ProtocolHandler = {
  protocol: BLOB_PROTOCOL,
  errorHeader: (status, error) => BlobResponse.encode({ status, size: 0n, error }),
  serve: serveBlob,
  maxConcurrent: MAX_CONCURRENT_BLOB_SERVES,
  maxPerPeer: MAX_BLOB_SERVES_PER_PEER,
};
