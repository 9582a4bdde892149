// PartialBlob: a blob being downloaded, kept in the data dir (`partial/<hex digest>/`,
// see partial-files.ts) so that a fetch killed at any moment, even with SIGKILL, and
// started again fetches only the groups it does not have yet.
//
// What it keeps: the blob's G=4 outboard, verified against the digest before anything
// is stored; a sparse content file of the blob's size; and a bitfield of the 16 KiB
// groups held (the last group may be short). Every group is hashed against the
// outboard before it is written, so nothing unverified is ever kept, whatever the
// caller passes. Groups may come in any order, from several sources at once, whole or
// in pieces (pieces of one group in order).
//
// Crash safety. The bitfield on disk is written only after the content file was
// fsynced, and only ever from a snapshot of groups whose bytes were written before
// that fsync: a bit set on disk always names bytes that are on disk and verify.
// Groups written since the last persist are simply fetched again after a crash.
// The bitfield is rewritten in place: bits only go from 0 to 1 (except for a group
// found corrupt later), so a torn write leaves each bit old or new, both true. On
// resume the stored outboard is verified again (parents only, cheap) but held groups
// are not rehashed: the bitfield is trusted for what to fetch, while every byte served
// (read, slice) or completed into the store is hashed again on its way out.
//
// Several processes. A writable PartialBlob (begin, resume) holds `partial/<hex>.lock`
// (partial-lock.ts) until close, complete or abort. A second writer of the same digest,
// in another process or this one, gets PARTIAL_BUSY at once, or after `lockWaitMs` if
// it asked to wait. `peek` opens a read-only view without the lock, for serving the
// groups a download in another process has persisted.
//
// Memory: the outboard (1/256 of the blob, 4 MiB for 1 GiB), the bitfield (1 bit per
// 16 KiB, 8 KiB for 1 GiB), at most 1 MiB of content per read or slice step, and at
// most MAX_ASSEMBLING groups being assembled from pieces. Never the blob.

import type { FileHandle } from 'node:fs/promises';
import type { ByteRange } from '../../verify/index.js';
import { verifyOutboard, type VerifiedOutboard } from '../../verify/index.js';
import { InvalidInputError } from '../../verify/index.js';
import { BLOB_GROUP_LOG, checkDigest, checkReadRange, type Digest, type ReadRange } from '../blob-service.js';
import { asDigest, digestEquals, parseDigest } from '../digest.js';
import type { DataDir } from '../disk/index.js';
import {
  createPartial, ensurePartialDir, listPartials, lockPath, openPartial, partialExists, removePartial, type PartialFiles,
} from './partial-files.js';
import { cachedOutboard, cacheOutboard } from './outboard-cache.js';
import { HeldPersister } from './partial-persist.js';
import { FileLock, LockHeldError } from './partial-lock.js';
import {
  CorruptPartialError, PartialBusyError, PartialClosedError, PartialDigestMismatchError, PartialIncompleteError,
  PartialSizeMismatchError,
} from './partial-errors.js';
import { checkSlice, groupsOf, readRange, readVerified, READ_BATCH, requireHeld, slice, type HeldContent } from './partial-serve.js';
import { writeDecoded, writeSlice } from './partial-fill.js';
import { GroupWriter } from './partial-write.js';
import { GroupBitfield } from './group-bitfield.js';

export { groupAligned } from './partial-fill.js';
export { MAX_ASSEMBLING } from './group-assembly.js';
export {
  CorruptPartialError, GroupNotHeldError, PartialBusyError, PartialClosedError, PartialDigestMismatchError,
  PartialIncompleteError, PartialSizeMismatchError,
} from './partial-errors.js';

export interface PartialBlobOptions {
  /** How long begin/resume wait for another live holder of the partial before PARTIAL_BUSY. @default 0 (fail at once) */
  lockWaitMs?: number;
  /** fsync the content before the bitfield, and files and dirs when creating or removing. @default true */
  durable?: boolean;
  /** Persist the bitfield once this many content bytes were newly held since the last persist. @default 8 MiB */
  persistEveryBytes?: number;
  /** ... or, at the next write, once this long has passed since the last persist. @default 2000 ms */
  persistEveryMs?: number;
}

const DEFAULT_PERSIST_BYTES = 8 << 20;
const DEFAULT_PERSIST_MS = 2000;

type State = 'open' | 'completing' | 'closed' | 'completed' | 'aborted';

export class PartialBlob implements HeldContent {
  readonly digest: Digest;
  readonly tree: VerifiedOutboard;
  readonly content: FileHandle;
  readonly #data: DataDir;
  readonly #bitfieldFile: FileHandle | undefined;
  readonly #lock: FileLock | undefined;
  readonly #held: GroupBitfield;
  readonly #durable: boolean;
  readonly #persister: HeldPersister;
  readonly #writer: GroupWriter;
  readonly #inflight = new Set<Promise<unknown>>();
  #state: State = 'open';

  private constructor(data: DataDir, digest: Digest, files: PartialFiles, lock: FileLock | undefined, options: PartialBlobOptions) {
    this.#data = data;
    this.digest = digest;
    this.tree = files.tree;
    this.content = files.content;
    this.#bitfieldFile = files.bitfieldFile;
    this.#held = new GroupBitfield(files.tree.groupCount, files.bitfield);
    this.#lock = lock;
    this.#durable = options.durable ?? true;
    this.#persister = new HeldPersister(this.#held, this.content, this.#bitfieldFile, data.layout.partialPath(digest), {
      durable: this.#durable,
      everyBytes: options.persistEveryBytes ?? DEFAULT_PERSIST_BYTES,
      everyMs: options.persistEveryMs ?? DEFAULT_PERSIST_MS,
    });
    this.#writer = new GroupWriter(this.tree, this.#held, this.content, this.#persister, data.layout.partialPath(digest));
  }

  /**
   * Starts or reopens the download of blob `digest` of `size` bytes. `outboard` (G=4,
   * with its length header) is verified against digest and size first: if it does not
   * verify, this throws (LENGTH_MISMATCH, UNEXPECTED_EOF, OUTBOARD_SIZE, HASH_MISMATCH)
   * and nothing is stored. An existing partial of the digest is reopened with what it
   * holds; one that is corrupt is replaced; one of another size is PARTIAL_SIZE_MISMATCH
   * (one of the two sizes is a lie, which only the final group can tell: `resume` and
   * `abort` it if this one is trusted, for example because a verified Directory names it).
   * PARTIAL_BUSY if another PartialBlob of the digest is open for writing.
   */
  static async begin(data: DataDir, digest: Digest, size: number, outboard: Uint8Array, options: PartialBlobOptions = {}): Promise<PartialBlob> {
    checkDigest(digest);
    // The same bytes verified already in this process (a fetch's stat caches its outboard)
    // are not hashed again; others are verified on a copy of their own, so that they may
    // be cached once they are the partial's (below).
    const known = cachedOutboard(digest, size);
    const tree = known !== undefined && equalBytes(known.outboard, outboard) ? known : verifyOutboard(digest, size, outboard.slice(), BLOB_GROUP_LOG);
    if (data.readOnly) throw data.readOnly;
    const durable = options.durable ?? true;
    await ensurePartialDir(data.layout);
    const lock = await takeLock(data, digest, options);
    try {
      let files: PartialFiles | undefined;
      try {
        files = await openPartial(data.layout, digest, true);
      } catch (err: unknown) {
        if (!(err instanceof CorruptPartialError)) throw err;
        await removePartial(data.layout, digest, durable);
      }
      if (files && files.tree.length !== size) {
        await closeFiles(files);
        throw new PartialSizeMismatchError(digest, files.tree.length, size);
      }
      if (!files) {
        await createPartial(data.layout, tree, durable);
        // Written from this verified outboard just now: opening it (and each serve or
        // resume in this process) need not reread and rehash the file (~25 ms per 256 MiB).
        cacheOutboard(tree);
        files = (await openPartial(data.layout, digest, true))!;
      }
      return new PartialBlob(data, asDigest(digest.slice()), files, lock, options);
    } catch (err: unknown) {
      await lock.release();
      throw err;
    }
  }

  /**
   * Reopens the partial of `digest` for writing, or undefined if there is none.
   * CORRUPT_PARTIAL if it does not hold together (remove it with `discard`),
   * PARTIAL_BUSY as for begin.
   */
  static async resume(data: DataDir, digest: Digest, options: PartialBlobOptions = {}): Promise<PartialBlob | undefined> {
    checkDigest(digest);
    if (!(await partialExists(data.layout, digest))) return undefined;
    if (data.readOnly) throw data.readOnly;
    const lock = await takeLock(data, digest, options);
    try {
      const files = await openPartial(data.layout, digest, true);
      if (!files) {
        await lock.release();
        return undefined;
      }
      return new PartialBlob(data, asDigest(digest.slice()), files, lock, options);
    } catch (err: unknown) {
      await lock.release();
      throw err;
    }
  }

  /**
   * A read-only view of the partial of `digest` as last persisted, without taking the
   * lock (its writer may be another process): for serving held groups. Every byte it
   * serves is verified; `refresh` rereads the bitfield. Undefined if there is none.
   */
  static async peek(data: DataDir, digest: Digest): Promise<PartialBlob | undefined> {
    checkDigest(digest);
    let files: PartialFiles | undefined;
    try {
      files = await openPartial(data.layout, digest, false);
    } catch (err: unknown) {
      // Removed (completed, aborted) between our first and a later look.
      if (err instanceof CorruptPartialError && !(await partialExists(data.layout, digest))) return undefined;
      throw err;
    }
    return files && new PartialBlob(data, asDigest(digest.slice()), files, undefined, { durable: false });
  }

  /** Removes the partial of `digest` if there is one (taking its lock; PARTIAL_BUSY if held). */
  static async discard(data: DataDir, digest: Digest, options: PartialBlobOptions = {}): Promise<void> {
    checkDigest(digest);
    if (!(await partialExists(data.layout, digest))) return;
    const lock = await takeLock(data, digest, options);
    try {
      await removePartial(data.layout, digest, options.durable ?? true);
    } finally {
      await lock.release();
    }
  }

  /** Digests of the partials in the data dir, in hex order (sweeping what killed removals left). */
  static async list(data: DataDir): Promise<Digest[]> {
    return (await listPartials(data.layout)).map(parseDigest);
  }

  get size(): number { return this.tree.length; }
  get groupCount(): number { return this.tree.groupCount; }
  /** 16 KiB; the last group is shorter unless the size is a multiple of it. */
  get groupBytes(): number { return this.tree.groupBytes; }
  get heldCount(): number { return this.#held.count; }
  /** Groups held as of the last persist: what a crash now would keep (progress that is durable). */
  get persistedCount(): number { return this.#persister.persistedCount; }
  get missingCount(): number { return this.tree.groupCount - this.#held.count; }
  get isComplete(): boolean { return this.#held.count === this.tree.groupCount; }
  /** False for a `peek` view. */
  get writable(): boolean { return this.#lock !== undefined; }

  has(group: number): boolean {
    return this.#held.has(group);
  }

  /** Whether every group under content bytes [start, end) is held (clipped to the size; an empty range asks for the final group). */
  holds(range: ReadRange): boolean {
    const r = checkReadRange(range)!;
    const { first, end } = groupsOf(this.tree, Math.min(r.start, this.size), Math.min(r.end, this.size));
    return this.#held.hasAll(first, end);
  }

  /** The groups held, bit i = group i, least significant bit first (a copy; includes groups not yet persisted). */
  heldBitfield(): Uint8Array {
    return this.#held.bits.slice();
  }

  /**
   * Byte ranges of the missing groups, neighbours merged, in order; the last ends at the
   * size. The empty blob's one group, while missing, is the range 0..0.
   */
  missingRanges(): ByteRange[] {
    return this.#held.clearRanges(this.groupBytes, this.size);
  }

  /**
   * Stores the bytes of one whole group after verifying them against the outboard.
   * Resolves to true if the group is newly held, false if it was held already.
   * HASH_MISMATCH (value: the group index) if the bytes do not verify: nothing is kept
   * and the group stays missing. INVALID_INPUT for a bad index or length.
   */
  async writeGroup(group: number, bytes: Uint8Array): Promise<boolean> {
    const { start, end } = this.tree.groupRange(group);
    if (!(bytes instanceof Uint8Array) || bytes.length !== end - start) {
      throw new InvalidInputError(`group ${group} is ${end - start} bytes, got ${bytes?.length}`, bytes?.length);
    }
    return (await this.write(start, bytes)) === 1;
  }

  /**
   * Stores content bytes at `offset`: any run, for example as a decoder releases
   * them. Whole groups in it are verified together and written; a piece of a group is
   * kept in memory until that group's bytes are complete (pieces of one group must
   * come in order; a piece at a group's start begins it afresh). Resolves to the number
   * of groups newly held. A group that fails verification is HASH_MISMATCH after the
   * groups before it in `bytes` were stored; it and the rest of `bytes` are not.
   */
  async write(offset: number, bytes: Uint8Array): Promise<number> {
    this.#checkRun(offset, bytes);
    return this.#track(this.#writer.write(offset, bytes));
  }

  /**
   * `write` for bytes a verifying bao decoder released for this blob's digest (the fetch
   * path): the decoder proved them against the digest, and this partial's outboard is
   * proved against the same digest, so they are stored without a second BLAKE3 pass.
   * Anything else (bytes of unknown origin) goes through `write`.
   */
  async writeVerified(offset: number, bytes: Uint8Array): Promise<number> {
    this.#checkRun(offset, bytes);
    return this.#track(this.#writer.write(offset, bytes, true));
  }

  #checkRun(offset: number, bytes: Uint8Array): void {
    this.#checkWritable();
    if (!(bytes instanceof Uint8Array)) throw new InvalidInputError('bytes must be a Uint8Array', typeof bytes);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes.length > this.size) {
      throw new InvalidInputError(`${bytes.length} bytes at ${offset} are not inside the blob's ${this.size}`, offset);
    }
  }

  /** Forgets a held group whose bytes were found not to verify (serving and complete call this). */
  dropGroup(group: number): void {
    if (this.#held.clear(group)) this.#persister.changed(0);
  }

  /**
   * Makes the held groups durable: fsyncs the content file, then writes the bitfield
   * (a snapshot taken before that fsync) and fsyncs it. Persists run one at a time;
   * writes may go on meanwhile. Writes call this by themselves every
   * `persistEveryBytes` or `persistEveryMs`; call it when pausing, or use close().
   */
  persist(): Promise<void> {
    return this.#persister.persist();
  }

  /** Rereads the persisted bitfield (for a `peek` view following a writer in another process). */
  async refresh(): Promise<void> {
    this.#checkOpen();
    const files = await openPartial(this.#data.layout, this.digest, false);
    if (!files) throw new CorruptPartialError(this.digest, 'it was removed');
    try {
      this.#held.load(files.bitfield);
      this.#persister.reloaded();
    } finally {
      await closeFiles(files);
    }
  }

  /**
   * The verified bytes of `range` (default: all), clipped to the size. Throws
   * GROUP_NOT_HELD at once if a group under it is missing; while streaming, a held group
   * that no longer verifies is marked missing and the stream ends in CORRUPT_PARTIAL.
   * An empty range yields nothing.
   */
  read(range?: ReadRange): AsyncIterable<Uint8Array> {
    this.#checkOpen();
    const r = checkReadRange(range) ?? { start: 0, end: this.size };
    const start = Math.min(r.start, this.size);
    const end = Math.min(r.end, this.size);
    if (end <= start) return (async function* () { /* nothing */ })();
    const span = groupsOf(this.tree, start, end);
    requireHeld(this, span.first, span.end);
    return readRange(this, start, end);
  }

  /**
   * A bao slice (G=4) of `ranges` from what is held: the 8-byte length header, then the
   * parents and groups a decoder of those ranges reads, in pre-order (ranges as in
   * extractSlice: an empty or past-the-end range carries the final group). Throws
   * GROUP_NOT_HELD at once if the slice needs a missing group; each group is verified
   * as it is read. Pieces are fresh buffers of about 64 KiB, the consumer's to keep.
   */
  slice(ranges: readonly ByteRange[]): AsyncIterable<Uint8Array> {
    this.#checkOpen();
    return slice(this, checkSlice(this, ranges));
  }

  /**
   * Once every group is held: streams the content, verified again group by group, into
   * the data dir's blob store, checks the digest it gets, removes the partial and
   * releases the lock. Resolves to the digest. PARTIAL_INCOMPLETE while groups are
   * missing; CORRUPT_PARTIAL if a held group no longer verifies (it is then marked
   * missing and persisted, and the partial stays open to fetch it again).
   */
  async complete(): Promise<Digest> {
    this.#checkWritable();
    if (this.#state === 'completing') throw new PartialClosedError('being completed');
    this.#state = 'completing';
    let got: Digest;
    try {
      await this.#settle();
      if (!this.isComplete) throw new PartialIncompleteError(this.digest, this.missingCount);
      got = await this.#storeContent();
    } catch (err: unknown) {
      this.#state = 'open';
      if (err instanceof CorruptPartialError) await this.persist();
      throw err;
    }
    if (!digestEquals(got, this.digest)) {
      this.#state = 'open';
      throw new PartialDigestMismatchError(this.digest, got);
    }
    this.#state = 'completed';
    await this.#release(true);
    return got;
  }

  /** Streams the content, verified again, into a store writer; reading the next MiB overlaps storing the last. */
  async #storeContent(): Promise<Digest> {
    // readVerified hashed every group against the outboard: the store need not hash them again.
    const writer = this.#data.blobs.openWriter({ verified: this.tree });
    let pending: Promise<void> | undefined;
    try {
      const perBatch = READ_BATCH / this.groupBytes;
      for (let g = 0; g < this.groupCount; g += perBatch) {
        const bytes = await readVerified(this, g, Math.min(perBatch, this.groupCount - g));
        await pending;
        pending = writer.write(bytes);
        // Awaited on the next turn or below; until then a failure must not count as unhandled.
        pending.catch(() => undefined);
      }
      await pending;
      return await writer.close();
    } catch (err: unknown) {
      await writer.abort();
      throw err;
    }
  }

  /**
   * Removes the partial and releases the lock. Does nothing after complete() or an
   * earlier abort(), nor after close() (the lock is gone then: use PartialBlob.discard).
   */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    if (this.#lock === undefined) throw new PartialClosedError('a read-only view');
    this.#state = 'aborted';
    await this.#settle();
    await this.#release(true);
  }

  /**
   * Stores the groups of `slice`, a peer's bao slice (G=4) of `ranges` of this blob:
   * its parents must be this partial's (HASH_MISMATCH at the first that is not), its
   * length header the size (LENGTH_MISMATCH), and its groups verify as any write. On an
   * error, the groups that arrived whole and verified before it are kept. Resolves to
   * the number of groups newly held. See partial-fill.ts.
   */
  writeSlice(ranges: readonly ByteRange[], slice: AsyncIterable<Uint8Array>): Promise<number> {
    this.#checkWritable();
    return writeSlice(this, ranges, slice);
  }

  /**
   * Writes the output of a verifying decoder of `ranges` of this blob (bytes of the
   * ranges, in order, without offsets), each piece at its offset. Use group-aligned
   * ranges (missingRanges, groupAligned) so the pieces are whole groups.
   */
  writeDecoded(ranges: readonly ByteRange[], decoded: AsyncIterable<Uint8Array>): Promise<number> {
    this.#checkWritable();
    return writeDecoded(this, ranges, decoded);
  }

  /** Persists, closes the files and releases the lock; the partial stays for a later resume. Idempotent. */
  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    await this.#settle();
    try {
      await this.persist();
    } finally {
      await this.#release(false);
    }
  }

  /** Waits for writes and persists under way. */
  async #settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
    await this.#persister.settled();
  }

  async #release(remove: boolean): Promise<void> {
    try {
      await this.content.close().catch(() => undefined);
      await this.#bitfieldFile?.close().catch(() => undefined);
      if (remove && this.#lock?.held) await removePartial(this.#data.layout, this.digest, this.#durable);
    } finally {
      await this.#lock?.release();
    }
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = (): void => { this.#inflight.delete(p); };
    p.then(done, done);
    return p;
  }

  #checkOpen(): void {
    if (this.#state !== 'open' && this.#state !== 'completing') throw new PartialClosedError(this.#state);
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (this.#lock === undefined) throw new PartialClosedError('a read-only view');
  }
}

async function takeLock(data: DataDir, digest: Digest, options: PartialBlobOptions): Promise<FileLock> {
  try {
    return await FileLock.acquire(lockPath(data.layout, digest), options.lockWaitMs ?? 0);
  } catch (err: unknown) {
    if (err instanceof LockHeldError) throw new PartialBusyError(digest, err.holder, { cause: err });
    throw err;
  }
}

async function closeFiles(files: PartialFiles): Promise<void> {
  await files.content.close().catch(() => undefined);
  await files.bitfieldFile?.close().catch(() => undefined);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
