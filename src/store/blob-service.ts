// The BlobService contract: blobs addressed by their BLAKE3 digest, written through a
// hashing writer and read back only as bytes verified against that digest.

import { toHex } from '../verify/index.js';
import type { ByteRange } from '../verify/index.js';
import type { VerifiedOutboard } from '../verify/index.js';
import { CastorError, InvalidInputError } from '../verify/index.js';
import { asDigest, type Digest } from './digest.js';

export type { Digest } from './digest.js';
/** Chunk-group log of every stored outboard: 16 KiB groups (see DESIGN.md, Formats). */
export const BLOB_GROUP_LOG = 4;

/** One FastCDC chunk of a blob, stored once under its own BLAKE3 digest. */
export interface ChunkRef {
  readonly digest: Digest;
  readonly size: number;
}

export interface BlobStat {
  readonly size: number;
  /** The blob's FastCDC chunks in order; their sizes sum to `size`. Empty where a store keeps no chunks. */
  readonly chunks: readonly ChunkRef[];
  /** bao outboard at G=4: 8-byte little-endian length header, then parent nodes in pre-order. */
  readonly outboard: Uint8Array;
}

/** Half-open range of content bytes, [start, end). */
export type ReadRange = ByteRange;

/** What BlobService.putFile made of a file. */
export type PutFileResult =
  | { readonly digest: Digest; readonly newBytes: number; readonly size: number; readonly mode: number }
  | { readonly large: { readonly size: number; readonly mode: number } }
  | { readonly notRegular: true }
  | { readonly unreadable: Error };

/**
 * Streams one blob into the store. The blob is hashed, chunked and its outboard built in
 * the same pass; nothing is visible under its digest until `close()` resolves. A `write`
 * may be issued before the previous one settled (writes are applied in call order), and
 * the caller may reuse a buffer once its `write` has resolved.
 */
export interface BlobWriter {
  write(bytes: Uint8Array): Promise<void>;
  /** Publishes the blob and resolves to its digest. Afterwards the writer is spent. */
  close(): Promise<Digest>;
  /** Discards everything written; the blob never becomes visible. No-op once closed or aborted. */
  abort(): Promise<void>;
  /**
   * Once `close()` resolved: bytes this blob added to the store (content the store did not
   * hold before, as new chunks or a new blob); 0 for a blob stored in full already.
   * Undefined before close.
   */
  readonly newBytes?: number | undefined;
}

export interface BlobWriterOptions {
  /**
   * Only for bytes a verifying decoder of this digest released (a fetch): the blob's
   * outboard, verified against its digest. A store may then take the digest and outboard
   * from it instead of hashing the blob again; it still refuses content of another length
   * or that fails a sample of groups (see group-sample-check.ts). Stores that hash anyway
   * ignore it.
   */
  readonly verified?: VerifiedOutboard;
  /**
   * How many bytes the caller expects to write (a file's size). A store may then spread
   * the work of a large blob over more threads; the blob is whatever is written.
   */
  readonly sizeHint?: number;
}

/**
 * A store of blobs. Absence is `false` / `undefined`, never an error; errors mean the store
 * itself is broken (corrupt or missing data, I/O failure) or an argument is malformed.
 */
export interface BlobService {
  has(digest: Digest): Promise<boolean>;
  /** Size, chunk list and outboard of a stored blob. Returned as stored: `read` is what verifies. */
  stat(digest: Digest): Promise<BlobStat | undefined>;
  /**
   * The bytes of `range` (default: all), clipped to the blob's size, as a stream. Every byte
   * is checked against `digest` through the outboard before it is yielded; on the first bad
   * byte the stream throws (CORRUPT_CHUNK, CORRUPT_RECORD, MISSING_CHUNK) having yielded only
   * verified bytes before it. Only the stored data under the range is read, rounded out to
   * 16 KiB groups; an empty or past-the-end range still reads and checks one group (the
   * final one), which proves the size (bao slice rules).
   */
  read(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined>;
  openWriter(options?: BlobWriterOptions): BlobWriter;
  /**
   * Optional fast path for content already in memory (small files): the same result as
   * writing `bytes` through a writer and closing it. Callers fall back to `openWriter`
   * where a store lacks it.
   */
  putBytes?(bytes: Uint8Array): Promise<{ digest: Digest; newBytes: number }>;
  /**
   * Optional fast path for a regular file on local disk, given by its path's bytes: a small
   * one (up to PUT_FILE_LIMIT, 1 MiB) is read whole and stored as by putBytes, several at
   * once where the store can, resolving to its digest, size and mode. Otherwise it resolves
   * to what the caller is to do: `large` (stream it through a writer), `notRegular` (it is
   * no longer a regular file: look again), `unreadable` (the system error). Store failures
   * reject as usual.
   */
  putFile?(file: Uint8Array): Promise<PutFileResult>;
  /**
   * Optional fast path for a blob of at most one group (16 KiB) the store keeps whole in
   * one place: its bytes, checked against the digest (for one group, the same check a
   * verified read makes), read synchronously; undefined when the store does not keep it
   * so, and the caller reads it as usual. Bytes that do not match reject as read would.
   */
  readSmall?(digest: Digest): Uint8Array | undefined;
}

/** A stored chunk does not hash to what the blob's outboard (or its own digest) says. */
export class CorruptChunkError extends CastorError {
  constructor(readonly chunk: Digest, readonly blob: Digest, readonly offset: number, detail: string) {
    super('CORRUPT_CHUNK', `chunk ${toHex(chunk)} of blob ${toHex(blob)} (content offset ${offset}) is corrupt: ${detail}`, toHex(chunk));
  }
}

/** A chunk the blob's record names is not in the store. */
export class MissingChunkError extends CastorError {
  constructor(readonly chunk: Digest, readonly blob: Digest, readonly offset: number, options?: { cause?: unknown }) {
    super('MISSING_CHUNK', `chunk ${toHex(chunk)} of blob ${toHex(blob)} (content offset ${offset}) is missing`, toHex(chunk), options);
  }
}

/** A blob's stored record (size, chunk list, outboard) is malformed or does not match its digest. */
export class CorruptRecordError extends CastorError {
  constructor(readonly blob: Digest, detail: string, options?: { cause?: unknown }) {
    super('CORRUPT_RECORD', `stored record of blob ${toHex(blob)} is corrupt: ${detail}`, toHex(blob), options);
  }
}

/** `write` or `close` on a writer that was already closed, aborted or failed. */
export class WriterClosedError extends CastorError {
  constructor(state: string, options?: { cause?: unknown }) {
    super('WRITER_CLOSED', `blob writer is ${state}`, state, options);
  }
}

/** Guards the public entry points against unbranded input (plain JS callers): INVALID_DIGEST. */
export function checkDigest(digest: Digest): Digest {
  return asDigest(digest);
}

export function checkBytes(bytes: unknown): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidInputError('blob data must be a Uint8Array', typeof bytes);
  return bytes;
}

/** Validates a caller's range; clipping to the size is the decoder's job. */
export function checkReadRange(range: ReadRange | undefined): ReadRange | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range;
  for (const [name, v] of [['start', start], ['end', end]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidInputError(`range ${name} ${v} is not a non-negative integer`, v);
  }
  if (end < start) throw new InvalidInputError(`range ${start}..${end} ends before it starts`, range);
  return { start, end };
}
