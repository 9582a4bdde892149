// Index bytes in and out of the BlobService: an Index is an ordinary blob, so it is
// stored chunked with an outboard and every read of it is bao-verified.

import { CastorError } from '../../verify/index.js';
import type { BlobService } from '../blob-service.js';
import { type Digest, formatDigest } from '../digest.js';
import { MAX_INDEX_BYTES } from './index-model.js';

/** An accepted root names an Index blob the store no longer holds. */
export class IndexMissingError extends CastorError {
  constructor(readonly digest: Digest) {
    super('INDEX_MISSING', `index blob ${formatDigest(digest)} of an accepted root is not in the store`, formatDigest(digest));
  }
}

/** Stores `bytes` as a blob; resolves to its digest. */
export async function storeIndexBlob(blobs: BlobService, bytes: Uint8Array): Promise<Digest> {
  const w = blobs.openWriter();
  try {
    await w.write(bytes);
    return await w.close();
  } catch (err: unknown) {
    await w.abort();
    throw err;
  }
}

/** The whole Index blob `digest`, verified as it is read. Throws IndexMissingError if absent. */
export async function readIndexBlob(blobs: BlobService, digest: Digest): Promise<Uint8Array> {
  const stat = await blobs.stat(digest);
  const stream = stat === undefined ? undefined : await blobs.read(digest);
  if (stat === undefined || stream === undefined) throw new IndexMissingError(digest);
  if (stat.size > MAX_INDEX_BYTES) throw new CastorError('INDEX_TOO_LARGE', `index blob ${formatDigest(digest)} is ${stat.size} bytes, over ${MAX_INDEX_BYTES}`, stat.size);
  const out = new Uint8Array(stat.size);
  let at = 0;
  for await (const piece of stream) {
    if (at + piece.length > out.length) throw new CastorError('INDEX_SIZE_MISMATCH', `index blob ${formatDigest(digest)} is longer than its stat says`, stat.size);
    out.set(piece, at);
    at += piece.length;
  }
  if (at !== out.length) throw new CastorError('INDEX_SIZE_MISMATCH', `index blob ${formatDigest(digest)} is shorter than its stat says`, stat.size);
  return out;
}

/** Bytes `[start, end)` of the Index blob, verified. Throws IndexMissingError if absent. */
export async function readIndexRange(blobs: BlobService, digest: Digest, start: number, end: number): Promise<Uint8Array> {
  const stream = await blobs.read(digest, { start, end });
  if (stream === undefined) throw new IndexMissingError(digest);
  const out = new Uint8Array(end - start);
  let at = 0;
  for await (const piece of stream) {
    out.set(piece.subarray(0, Math.min(piece.length, out.length - at)), at);
    at += piece.length;
  }
  if (at !== out.length) throw new CastorError('INDEX_SIZE_MISMATCH', `index blob ${formatDigest(digest)} ended at ${start + at}, before ${end}`, end);
  return out;
}
