// The FsBlobWriter. One pass over the input hashes the blob with its G=4 outboard,
// cuts FastCDC chunks and stages each new chunk in the writer's own dir under tmp/.
// close() makes the staged chunks durable, renames them into chunks/, makes that durable,
// and only then publishes the record, so a visible record never names a missing chunk
// and a writer killed at any moment leaves only its staging dir behind.
//
// Hashing and chunking run on the main thread in call order; the file-system work of
// staging chunks (dedup stat, create, write, close) runs on libuv's thread pool with up to
// STORE_CONCURRENCY chunks in flight, and close() renames and syncs with a bound too. A
// write resolves once its chunks are under way and none of them refers to the caller's
// buffer any more (each was either written to its file or copied into the writer's ring);
// a chunk that then fails to be staged fails the writer, and the next write or close
// reports it. Durable writers fsync their first SYNC_EACH_LIMIT staged chunks one by one;
// a larger blob's remaining chunks are made durable at close by one syncfs, not an fsync
// each (about 0.4 ms apiece, device-bound, on the project's machine kind).

import { mkdir, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Hasher, toHex } from '../verify/blake3/index.js';
import { withHeader } from '../verify/bao/index.js';
import { moveInto, syncDir, syncFile, writeSynced, type ByteSource } from './atomic-write.js';
import {
  BLOB_GROUP_LOG, checkBytes, WriterClosedError, type BlobWriter, type ChunkRef, type Digest,
} from './blob-service.js';
import { ByteRing, TaskPool, type RingCopy } from './bounded-queue.js';
import { forEachConcurrent } from './concurrent.js';
import { asDigest } from './digest.js';
import { FastCdcChunker, type Chunk, type ChunkerOptions } from './fastcdc.js';
import { DataDirMissingError, errnoOf, fsError, isNotFound } from './fs-errors.js';
import type { FsLayout } from './fs-layout.js';
import { chunkDigest, encodeRecord } from './fs-record.js';
import { syncFileSystem } from './sync-fs.js';

export interface FsWriterConfig {
  layout: FsLayout;
  chunker: ChunkerOptions;
  durable: boolean;
  /** Set when the data dir was found read-only at open: every write fails with it. */
  readOnly?: Error;
}

type State = 'open' | 'closing' | 'closed' | 'aborted' | 'failed';

const RECORD_FILE = 'record';
/**
 * Most chunks being staged at once: enough to keep libuv's thread pool and the disk busy
 * (fsyncs overlapping) while the main thread hashes and cuts the next piece.
 */
const STORE_CONCURRENCY = 16;
/** Room for copies of chunks still queued when the write that cut them resolves (at least two max-size chunks). */
const COPY_RING_BYTES = 1 << 20;
/** Renames and fsyncs in flight at once during close(). */
const PUBLISH_CONCURRENCY = 32;
/**
 * A durable writer fsyncs this many staged chunks one by one, overlapped with the rest of
 * the work; chunks past them are staged without, and close() makes them durable together
 * with one syncfs (sync-fs.ts), which costs about as much as this many fsyncs (a process
 * start and one flush). The same count decides between an fsync per changed directory and
 * one syncfs once the chunks are renamed.
 */
const SYNC_EACH_LIMIT = 32;

/**
 * One chunk on its way to its staging file. Its bytes are a view of a caller's buffer or
 * of a chunker carry; before the write that cut it resolves, `detach` copies them into the
 * writer's ring (so the caller may reuse its buffer and old carries are not kept alive),
 * or waits if they are being written to the file at that moment.
 */
class ChunkJob implements ByteSource {
  data: Uint8Array | undefined;
  #copy: RingCopy | undefined;
  #writing = false;
  #resolve!: () => void;
  readonly #released = new Promise<void>((resolve) => { this.#resolve = resolve; });

  constructor(data: Uint8Array) {
    this.data = data;
  }

  async detach(ring: ByteRing): Promise<void> {
    if (this.data === undefined || this.#copy) return;
    if (this.#writing) return this.#released;
    const copy = await ring.copy(this.data);
    if (this.data === undefined || this.#writing) {
      // Finished (or started writing the original) while waiting for room.
      copy.release();
      return this.#released;
    }
    this.#copy = copy;
    this.data = copy.bytes;
  }

  take(): Uint8Array {
    this.#writing = true;
    return this.data!;
  }

  /** The bytes are in the file (or never will be): drop them and give a copy's room back. */
  release(): void {
    this.data = undefined;
    this.#writing = false;
    this.#copy?.release();
    this.#copy = undefined;
    this.#resolve();
  }
}

export class FsBlobWriter implements BlobWriter {
  readonly #cfg: FsWriterConfig;
  #state: State = 'open';
  /** Orders writes issued without awaiting; each caller still gets its own write's result. */
  #queue: Promise<void> = Promise.resolve();
  #hasher: Hasher | undefined = new Hasher({ groupLog: BLOB_GROUP_LOG });
  #chunker: FastCdcChunker | undefined;
  #chunks: ChunkRef[] = [];
  /** Chunks this writer has taken on (staged, being staged, or found already in chunks/). */
  #seen = new Set<string>();
  /** Chunks staged in this writer's dir, to be moved into chunks/ at close. */
  #staged: string[] = [];
  /** Bytes of the chunks staged (those chunks/ did not have). */
  #stagedBytes = 0;
  /** Chunks of a durable writer fsynced as they were staged (or being staged). */
  #syncedEach = 0;
  /** Chunks of a durable writer staged without fsync: close() makes them durable before renaming them. */
  #unsynced: string[] = [];
  #newBytes: number | undefined;
  readonly #pool = new TaskPool(STORE_CONCURRENCY);
  readonly #ring: ByteRing;
  #staging: string | undefined;
  #stagingReady: Promise<string> | undefined;
  #failure: Error | undefined;

  constructor(cfg: FsWriterConfig) {
    this.#cfg = cfg;
    this.#chunker = new FastCdcChunker(cfg.chunker);
    this.#ring = new ByteRing(Math.max(COPY_RING_BYTES, 2 * cfg.chunker.max));
  }

  /** Once close() resolved: bytes of the chunks this blob added to chunks/ (0 if all were there). */
  get newBytes(): number | undefined {
    return this.#newBytes;
  }

  write(bytes: Uint8Array): Promise<void> {
    try {
      checkBytes(bytes);
    } catch (err: unknown) {
      return Promise.reject(err);
    }
    if (this.#state !== 'open') return Promise.reject(this.#closedError());
    return this.#enqueue(() => this.#write(bytes));
  }

  close(): Promise<Digest> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError());
    this.#state = 'closing';
    return this.#enqueue(() => this.#close());
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') {
      // Let a close in progress finish: what it publishes is complete and stays.
      await this.#queue;
      return;
    }
    this.#state = 'aborted';
    await this.#queue;
    await this.#pool.drain();
    await this.#discard();
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(op);
    // The queue only orders operations; each failure reaches the caller through `result`.
    this.#queue = result.then(() => undefined, () => undefined);
    return result;
  }

  #closedError(): Error {
    return new WriterClosedError(this.#state, { cause: this.#failure });
  }

  /** Still taking data: writes issued before close() are applied even though close() has been called. */
  #accepting(): boolean {
    return this.#state === 'open' || this.#state === 'closing';
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (!this.#accepting()) throw this.#closedError();
    if (this.#cfg.readOnly) return this.#fail(this.#cfg.readOnly);
    const started: ChunkJob[] = [];
    try {
      this.#hasher!.update(bytes);
      for (const c of this.#chunker!.push(bytes)) {
        const job = await this.#storeChunk(c);
        if (job) started.push(job);
        if (!this.#accepting() || this.#pool.failure) break;
      }
    } catch (err: unknown) {
      return this.#fail(err); // which waits for every job, so none still reads `bytes`
    }
    if (this.#pool.failure && this.#accepting()) return this.#fail(this.#pool.failure.error);
    // Chunks are views of `bytes`, which the caller may reuse once this resolves, or of the
    // chunker's carry, which should not outlive the next few chunks: copied if still queued.
    for (const job of started) await job.detach(this.#ring);
  }

  async #close(): Promise<Digest> {
    if (this.#state !== 'closing') throw this.#closedError();
    if (this.#cfg.readOnly) return this.#fail(this.#cfg.readOnly);
    try {
      this.#throwIfStagingFailed();
      for (const c of this.#chunker!.finish()) await this.#storeChunk(c);
      await this.#pool.drain();
      this.#throwIfStagingFailed();
      const r = this.#hasher!.finalize();
      const digest = asDigest(r.hash);
      const record = encodeRecord(r.length, this.#chunks, withHeader(r.length, r.nodes!));
      const { layout, durable } = this.#cfg;
      const staging = await this.#stagingDir();
      // Chunks first, durably, so the record published below never names a missing chunk:
      // every staged chunk durable before any is renamed into chunks/ (no chunk file there
      // can be cut short by a power loss), then the renames durable.
      if (durable) await this.#makeDurable(this.#unsynced.map((hex) => path.join(staging, hex)), syncFile);
      const dirty = new Set<string>();
      await forEachConcurrent(this.#staged, PUBLISH_CONCURRENCY, async (hex) => {
        for (const d of await moveInto(path.join(staging, hex), layout.chunkPath(hex))) dirty.add(d);
      });
      if (durable) await this.#makeDurable([...dirty], syncDir);
      const recordTemp = path.join(staging, RECORD_FILE);
      await writeSynced(recordTemp, record, durable);
      const recordDirs = await moveInto(recordTemp, layout.blobPath(digest));
      if (durable) await forEachConcurrent(recordDirs, PUBLISH_CONCURRENCY, syncDir);
      this.#state = 'closed';
      this.#newBytes = this.#stagedBytes;
      await this.#discard();
      return digest;
    } catch (err: unknown) {
      return this.#fail(err);
    }
  }

  #throwIfStagingFailed(): void {
    const f = this.#pool.failure;
    if (f) throw f.error;
  }

  /**
   * Records chunk `c` in the blob's list and, unless this writer already took it on, starts
   * staging it once the pool has room. Resolves to the job started, if any.
   */
  async #storeChunk(c: Chunk): Promise<ChunkJob | undefined> {
    const digest = chunkDigest(c.data);
    this.#chunks.push({ digest, size: c.length });
    const hex = toHex(digest);
    if (this.#seen.has(hex)) return undefined;
    this.#seen.add(hex);
    // Made before the first job starts, so a writer that has taken data is visible in tmp/
    // (cleanTemp judges staging dirs by their age) and the jobs need not race to make it.
    await this.#stagingDir();
    const job = new ChunkJob(c.data);
    await this.#pool.add(() => this.#stage(hex, job));
    return job;
  }

  async #stage(hex: string, job: ChunkJob): Promise<void> {
    try {
      if (!this.#accepting()) return;
      const size = job.data!.length;
      if (await this.#alreadyStored(hex, size)) return;
      if (!this.#accepting()) return;
      const staging = await this.#stagingDir();
      const syncNow = this.#cfg.durable && this.#syncedEach < SYNC_EACH_LIMIT;
      if (syncNow) this.#syncedEach++;
      await writeSynced(path.join(staging, hex), job, syncNow);
      this.#staged.push(hex);
      this.#stagedBytes += size;
      if (this.#cfg.durable && !syncNow) this.#unsynced.push(hex);
    } finally {
      // Wakes a write waiting on this job when it never got as far as writing its bytes.
      if (job.data !== undefined) job.release();
    }
  }

  /**
   * fsyncs each of `paths` (with `sync`), or, when there are more than SYNC_EACH_LIMIT,
   * syncs the data dir's whole file system once. Where that cannot run (no `sync -f`, as
   * with busybox or old coreutils), falls back to an fsync each.
   */
  async #makeDurable(paths: readonly string[], sync: (p: string) => Promise<void>): Promise<void> {
    if (paths.length > SYNC_EACH_LIMIT) {
      try {
        await syncFileSystem(this.#cfg.layout.root);
        return;
      } catch {
        // An I/O error behind the failure shows again in the fsyncs below.
      }
    }
    await forEachConcurrent(paths, PUBLISH_CONCURRENCY, (p) => sync(p));
  }

  /**
   * Dedup: a chunk file already there under this digest is kept. Its size is checked (a
   * file of the wrong size is corrupt and gets replaced by this writer's copy); its bytes
   * are not rehashed, since every read verifies them through the blob's outboard anyway.
   */
  async #alreadyStored(hex: string, size: number): Promise<boolean> {
    const file = this.#cfg.layout.chunkPath(hex);
    try {
      // Touched before the size check, so a gc running now sees it as recent (src/store/gc.ts).
      const now = new Date();
      await utimes(file, now, now);
      return (await stat(file)).size === size;
    } catch (err: unknown) {
      if (isNotFound(err)) return false;
      throw fsError(err, file, 'checking');
    }
  }

  /** The writer's staging dir, made on first use (once, however many chunks ask at the same time). */
  #stagingDir(): Promise<string> {
    this.#stagingReady ??= this.#makeStagingDir();
    return this.#stagingReady;
  }

  async #makeStagingDir(): Promise<string> {
    const dir = this.#cfg.layout.newStagingDir();
    try {
      await mkdir(dir);
    } catch (err: unknown) {
      if (errnoOf(err) === 'ENOENT') throw new DataDirMissingError(this.#cfg.layout.root, 'has no tmp/ (removed while open?)', { cause: err });
      throw fsError(err, dir, 'creating');
    }
    this.#staging = dir;
    return dir;
  }

  async #fail(err: unknown): Promise<never> {
    const e = fsError(err, this.#staging ?? this.#cfg.layout.tmp, 'writing');
    this.#state = 'failed';
    this.#failure = e;
    // Nothing may still be creating files in the staging dir when it is removed.
    await this.#pool.drain();
    await this.#discard();
    throw e;
  }

  /** Removes the staging dir with whatever it still holds, and drops the hashing state. */
  async #discard(): Promise<void> {
    const dir = this.#staging;
    this.#staging = undefined;
    this.#stagingReady = undefined;
    this.#seen = new Set();
    this.#staged = [];
    this.#stagedBytes = 0;
    this.#unsynced = [];
    this.#chunks = [];
    this.#hasher = undefined;
    this.#chunker = undefined;
    if (dir === undefined) return;
    try {
      await rm(dir, { recursive: true, force: true });
    } catch {
      // Left for cleanTemp: a failed cleanup must not hide the outcome being reported.
    }
  }
}
