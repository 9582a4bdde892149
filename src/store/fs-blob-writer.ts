// The FsBlobWriter. One pass over the input hashes the blob with its G=4 outboard,
// cuts FastCDC chunks and stages each new chunk in the writer's own dir under tmp/.
// close() makes the staged chunks durable, renames them into chunks/, makes that durable,
// and only then publishes the record, so a visible record never names a missing chunk
// and a writer killed at any moment leaves only its staging dir behind.
//
// Chunking and chunk digests run on the caller's thread in call order; the blob's tree hash
// and outboard run there too for a small blob, and on the tree-hashing thread
// (tree-hash-thread.ts) for one said to be large (sizeHint); staging chunks (dedup check,
// create, write, close) runs on the chunk-staging worker (chunk-stager.ts). The worker gets a
// copy of each new chunk in pooled batch buffers; close() has that worker rename them into
// chunks/ and syncs with a bound. A write resolves once its chunks are copied (the caller may reuse its buffer); a chunk
// that then fails to be staged fails the writer, and the next write or close reports it.
// Durable writers fsync their first SYNC_EACH_LIMIT staged chunks one by one; a larger
// blob's remaining chunks are made durable at close by one syncfs, not an fsync each (about
// 0.4 ms apiece, device-bound, on the project's machine kind).
//
// A writer opened with `verified` (the outboard of bytes a verifying decoder released, as
// a fetch has) takes the digest and outboard from it instead of hashing the blob a third
// time (the decoder hashed it, the chunk digests hash it again): its parents are checked
// against the digest once more and sampled groups and the length against the content
// (group-sample-check.ts), so another blob's outboard or bytes are refused before any
// record names them.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Hasher, RemoteHasher, toHex } from '../verify/blake3/index.js';
import { withHeader } from '../verify/bao/index.js';
import { verifyOutboard, type VerifiedOutboard } from '../verify/bao/verify-outboard.js';
import { moveInto, syncDir, syncFile, writeSynced } from './atomic-write.js';
import {
  BLOB_GROUP_LOG, checkBytes, WriterClosedError, type BlobWriter, type BlobWriterOptions, type ChunkRef, type Digest,
} from './blob-service.js';
import { chunkStager, type StageOutcome } from './chunk-stager.js';
import { forEachConcurrent } from './concurrent.js';
import { asDigest } from './digest.js';
import { FastCdcChunker, type Chunk, type ChunkerOptions } from './fastcdc.js';
import { GroupSampleCheck } from './group-sample-check.js';
import { DataDirMissingError, errnoOf, fsError } from './fs-errors.js';
import type { FsLayout } from './fs-layout.js';
import { chunkDigest, encodeRecord } from './fs-record.js';
import { syncFileSystem } from './sync-fs.js';
import { treeHashes } from './tree-hash-thread.js';

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
 * Bytes in the staging batch that make a write send it on: a batch buffer's worth (1 MiB).
 * At 256 KiB a 256 MiB fetch posted four times the messages and used 4.77 s of client CPU
 * against 4.51 s (medians of 8 interleaved fetches, lower in 6 of 8 pairs, load 3-4.5).
 */
const FLUSH_AFTER_WRITE = 1 << 20;
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
 * Blobs said to be at least this large (BlobWriterOptions.sizeHint) have their tree hashed
 * on the tree-hashing thread (tree-hash-thread.ts); smaller ones here, where a thread hop
 * would cost more than it spreads.
 */
const REMOTE_TREE_HASH_MIN = 8 << 20;

export class FsBlobWriter implements BlobWriter {
  readonly #cfg: FsWriterConfig;
  #state: State = 'open';
  /** Orders writes issued without awaiting; each caller still gets its own write's result. */
  #queue: Promise<void> = Promise.resolve();
  /** The blob's tree and outboard, hashed on this thread as the bytes come (none when told them). */
  #hasher: Hasher | undefined;
  /** The tree hashed on the tree-hashing thread instead, for a blob said to be large. */
  #remote: RemoteHasher | undefined;
  /** The digest and outboard told up front, and the check of the content against them. */
  #known: { tree: VerifiedOutboard; check: GroupSampleCheck } | undefined;
  /** An outboard told up front that does not verify: every write and close fails with it. */
  #badOutboard: unknown;
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
  /** Chunks handed to the staging worker and not yet settled. */
  readonly #inFlight = new Set<Promise<void>>();
  /** The first chunk that failed to stage. */
  #stageFailure: { error: unknown } | undefined;
  #staging: string | undefined;
  #stagingReady: Promise<string> | undefined;
  #failure: Error | undefined;

  /** `verified`: see BlobWriterOptions.verified. */
  constructor(cfg: FsWriterConfig, options: BlobWriterOptions = {}) {
    this.#cfg = cfg;
    this.#chunker = new FastCdcChunker(cfg.chunker);
    const v = options.verified;
    if (v === undefined) {
      if ((options.sizeHint ?? 0) >= REMOTE_TREE_HASH_MIN) this.#remote = new RemoteHasher(treeHashes(), { groupLog: BLOB_GROUP_LOG });
      else this.#hasher = new Hasher({ groupLog: BLOB_GROUP_LOG });
      return;
    }
    try {
      // Its parents checked again (about 1/256 of the content hashed): a VerifiedOutboard
      // can be made by hand, and the record must not carry an outboard that is not the digest's.
      const tree = verifyOutboard(v.hash, v.length, v.outboard, BLOB_GROUP_LOG);
      this.#known = { tree, check: new GroupSampleCheck(tree) };
    } catch (err: unknown) {
      this.#badOutboard = err;
    }
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
    await this.#drain();
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
    try {
      if (this.#badOutboard !== undefined) throw this.#badOutboard;
      if (this.#known !== undefined) this.#known.check.push(bytes);
      else if (this.#remote !== undefined) await this.#remote.update(bytes);
      else this.#hasher!.update(bytes);
      for (const c of this.#chunker!.push(bytes)) {
        await this.#storeChunk(c);
        if (!this.#accepting() || this.#stageFailure) break;
      }
    } catch (err: unknown) {
      return this.#fail(err);
    }
    // Every chunk cut from `bytes` is copied by now, so the caller may reuse it. The batch
    // holding them goes to the worker once full, when this writer drains (close, abort),
    // or here once it holds a batch's worth: small writes (a fetch's 16 KiB groups) then
    // cost a message per dozen or so chunks, not one each.
    chunkStager().flushIfAtLeast(FLUSH_AFTER_WRITE);
    if (this.#stageFailure && this.#accepting()) return this.#fail(this.#stageFailure.error);
  }

  async #close(): Promise<Digest> {
    if (this.#state !== 'closing') throw this.#closedError();
    if (this.#cfg.readOnly) return this.#fail(this.#cfg.readOnly);
    try {
      this.#throwIfStagingFailed();
      for (const c of this.#chunker!.finish()) await this.#storeChunk(c);
      await this.#drain();
      this.#throwIfStagingFailed();
      const { digest, record } = await this.#finishTree();
      const { layout, durable } = this.#cfg;
      const staging = await this.#stagingDir();
      // Chunks first, durably, so the record published below never names a missing chunk:
      // every staged chunk durable before any is renamed into chunks/ (no chunk file there
      // can be cut short by a power loss), then the renames durable.
      if (durable) await this.#makeDurable(this.#unsynced.map((hex) => path.join(staging, hex)), syncFile);
      const dirty = await chunkStager().publish(this.#staged.map((hex) => [path.join(staging, hex), layout.chunkPath(hex)] as const));
      if (durable) await this.#makeDurable(dirty, syncDir);
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

  /** The blob's digest and record, from the hash worker, or from the outboard told up front once the content checked out. */
  async #finishTree(): Promise<{ digest: Digest; record: Uint8Array }> {
    if (this.#badOutboard !== undefined) throw this.#badOutboard;
    const known = this.#known;
    if (known !== undefined) {
      known.check.finish();
      return { digest: asDigest(known.tree.hash.slice()), record: encodeRecord(known.tree.length, this.#chunks, known.tree.outboard) };
    }
    const r = this.#remote !== undefined ? await this.#remote.finalize() : this.#hasher!.finalize();
    this.#hasher = undefined;
    this.#remote = undefined;
    return { digest: asDigest(r.hash), record: encodeRecord(r.length, this.#chunks, withHeader(r.length, r.nodes!)) };
  }

  #throwIfStagingFailed(): void {
    const f = this.#stageFailure;
    if (f) throw f.error;
  }

  /** Resolves once no chunk of this writer is with the staging worker. */
  async #drain(): Promise<void> {
    if (this.#inFlight.size > 0) chunkStager().flush();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /**
   * Records chunk `c` in the blob's list and, unless this writer already took it on, hands
   * a copy of it to the staging worker (waiting for room in its ring).
   */
  async #storeChunk(c: Chunk): Promise<void> {
    const digest = chunkDigest(c.data);
    this.#chunks.push({ digest, size: c.length });
    const hex = toHex(digest);
    if (this.#seen.has(hex)) return;
    this.#seen.add(hex);
    // Made before the first chunk is staged, so a writer that has taken data is visible in
    // tmp/ (cleanTemp judges staging dirs by their age).
    const staging = await this.#stagingDir();
    const sync = this.#cfg.durable && this.#syncedEach < SYNC_EACH_LIMIT;
    if (sync) this.#syncedEach++;
    const { outcome } = await chunkStager().add({ file: path.join(staging, hex), chunkFile: this.#cfg.layout.chunkPath(hex), bytes: c.data, sync });
    const settled = outcome.then(
      (o: StageOutcome) => {
        if (o !== 'staged') return;
        this.#staged.push(hex);
        this.#stagedBytes += c.length;
        if (this.#cfg.durable && !sync) this.#unsynced.push(hex);
      },
      (err: unknown) => { this.#stageFailure ??= { error: err }; },
    ).finally(() => this.#inFlight.delete(settled));
    this.#inFlight.add(settled);
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
    await this.#drain();
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
    this.#remote?.dispose();
    this.#remote = undefined;
    this.#known = undefined;
    this.#chunker = undefined;
    if (dir === undefined) return;
    try {
      await rm(dir, { recursive: true, force: true });
    } catch {
      // Left for cleanTemp: a failed cleanup must not hide the outcome being reported.
    }
  }
}
