// The FsBlobWriter. One pass over the input hashes the blob with its G=4 outboard, cuts
// FastCDC chunks and appends each new chunk to this thread's pack (chunk-put.ts). close()
// makes the appended chunks durable (one fsync of the pack, for a durable writer) and only
// then publishes the record, through a temp file in tmp/, so a visible record never names a
// missing chunk; a writer killed at any moment leaves at most entries no record names (gc
// reclaims them) and a torn last entry no reader counts.
//
// Chunking and the appends run on the caller's thread in call order; the blob's tree hash
// and outboard and the chunk digests run there too for a small blob, and on the
// tree-hashing thread (tree-hash-thread.ts) for one said to be large (sizeHint), which
// sends each chunk's digest back with its bytes to be appended here, in order. An append is
// a write into the page cache; staging chunk files on a worker instead (create, write,
// close, then a rename into chunks/) used 3.7 s of CPU for a 1 GiB blob, nine tenths of it
// in the kernel. With the chunk digests on this thread, it was the bottleneck of a 1 GiB
// add (perf: 3.0 s of CPU, the tree-hashing thread 0.9 s).
//
// A writer opened with `verified` (the outboard of bytes a verifying decoder released, as
// a fetch has) takes the digest and outboard from it instead of hashing the blob a third
// time (the decoder hashed it, the chunk digests hash it again): its parents are checked
// against the digest once more and sampled groups and the length against the content
// (group-sample-check.ts), so another blob's outboard or bytes are refused before any
// record names them.

import { rm } from 'node:fs/promises';
import { Hasher, PIECE_MAX, RemoteHasher, toHex } from '../../verify/index.js';
import { withHeader } from '../../verify/index.js';
import { verifyOutboard, type VerifiedOutboard } from '../../verify/index.js';
import { moveInto, syncDir, writeSynced } from '../fs/index.js';
import {
  BLOB_GROUP_LOG, checkBytes, WriterClosedError, type BlobWriter, type BlobWriterOptions, type ChunkRef, type Digest,
} from '../blob-service.js';
import { newDedup, putChunkSync, type Dedup } from './chunk-put.js';
import { forEachConcurrent } from '../util/index.js';
import { asDigest } from '../digest.js';
import { FastCdcChunker, type Chunk, type ChunkerOptions } from '../chunking/index.js';
import { GroupSampleCheck } from './group-sample-check.js';
import { DataDirMissingError, fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { chunkDigest, encodeRecord } from './fs-record.js';
import { packWriter } from './packs/index.js';
import { treeHashes } from './tree-hash-thread.js';

export interface FsWriterConfig {
  layout: FsLayout;
  chunker: ChunkerOptions;
  durable: boolean;
  /** Set when the data dir was found read-only at open: every write fails with it. */
  readOnly?: Error;
}

type State = 'open' | 'closing' | 'closed' | 'aborted' | 'failed';

/** Directories whose entries changed, fsynced at once during close(). */
const PUBLISH_CONCURRENCY = 32;
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
  /** Chunks this writer has taken on (appended, or found kept already). */
  #seen = new Set<string>();
  /** Packs a chunk was found in (dedup), refreshed for gc (and synced, if durable) once each. */
  #dedup: Dedup;
  /** Bytes of the chunks appended (those not kept already). */
  #addedBytes = 0;
  #newBytes: number | undefined;
  /** The record's temp file in tmp/, while close() writes it. */
  #recordTemp: string | undefined;
  /** Chunks go to the tree-hashing thread whole and come back with their digests (see the file comment). */
  #remoteChunks = false;
  /** The first failure storing a chunk that came back from the tree-hashing thread. */
  #chunkFailure: { error: unknown } | undefined;
  #failure: Error | undefined;

  /** `verified`: see BlobWriterOptions.verified. */
  constructor(cfg: FsWriterConfig, options: BlobWriterOptions = {}) {
    this.#cfg = cfg;
    this.#dedup = newDedup(cfg.durable);
    this.#chunker = new FastCdcChunker(cfg.chunker);
    const v = options.verified;
    if (v === undefined) {
      if ((options.sizeHint ?? 0) < REMOTE_TREE_HASH_MIN) this.#hasher = new Hasher({ groupLog: BLOB_GROUP_LOG });
      else if (cfg.chunker.max > PIECE_MAX) this.#remote = new RemoteHasher(treeHashes(), { groupLog: BLOB_GROUP_LOG });
      else {
        this.#remoteChunks = true;
        this.#remote = new RemoteHasher(treeHashes(), {
          groupLog: BLOB_GROUP_LOG,
          onPieces: (bytes, lengths, digests) => this.#chunksHashed(bytes, lengths, digests),
        });
      }
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

  /** Once close() resolved: bytes of the chunks this blob added to the store (0 if all were there). */
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
      if (this.#remoteChunks) {
        for (const c of this.#chunker!.push(bytes)) await this.#remote!.updatePiece(c.data);
        this.#throwIfChunkFailed();
        return;
      }
      if (this.#known !== undefined) this.#known.check.push(bytes);
      else if (this.#remote !== undefined) await this.#remote.update(bytes);
      else this.#hasher!.update(bytes);
      for (const c of this.#chunker!.push(bytes)) this.#storeChunk(c);
    } catch (err: unknown) {
      return this.#fail(err);
    }
  }

  /** Chunks back from the tree-hashing thread with their digests: stored here, in order. */
  #chunksHashed(bytes: Uint8Array, lengths: readonly number[], digests: Uint8Array): void {
    if (this.#chunkFailure !== undefined || this.#chunker === undefined) return;
    try {
      let at = 0;
      lengths.forEach((n, i) => {
        this.#storeHashed(asDigest(digests.slice(32 * i, 32 * i + 32)), bytes.subarray(at, at + n));
        at += n;
      });
    } catch (err: unknown) {
      this.#chunkFailure = { error: err };
    }
  }

  #throwIfChunkFailed(): void {
    if (this.#chunkFailure !== undefined) throw this.#chunkFailure.error;
  }

  async #close(): Promise<Digest> {
    if (this.#state !== 'closing') throw this.#closedError();
    if (this.#cfg.readOnly) return this.#fail(this.#cfg.readOnly);
    try {
      for (const c of this.#chunker!.finish()) {
        if (this.#remoteChunks) await this.#remote!.updatePiece(c.data);
        else this.#storeChunk(c);
      }
      const { digest, record } = await this.#finishTree();
      // Every chunk is back from the tree-hashing thread and stored, or this says why not.
      this.#throwIfChunkFailed();
      const { layout, durable } = this.#cfg;
      // Chunks first, durably, so the record published below never names a missing chunk.
      if (durable) packWriter(layout).syncPending();
      const temp = layout.newTempPath('r-');
      this.#recordTemp = temp;
      try {
        await writeSynced(temp, record, durable);
      } catch (err: unknown) {
        if (isNotFound((err as { cause?: unknown }).cause ?? err)) throw new DataDirMissingError(layout.root, 'has no tmp/ (removed while open?)', { cause: err });
        throw err;
      }
      const recordDirs = await moveInto(temp, layout.blobPath(digest));
      this.#recordTemp = undefined;
      if (durable) await forEachConcurrent(recordDirs, PUBLISH_CONCURRENCY, syncDir);
      this.#state = 'closed';
      this.#newBytes = this.#addedBytes;
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

  /** Records chunk `c` in the blob's list and stores it, unless this writer already took it on. */
  #storeChunk(c: Chunk): void {
    this.#storeHashed(chunkDigest(c.data), c.data);
  }

  #storeHashed(digest: Digest, data: Uint8Array): void {
    this.#chunks.push({ digest, size: data.length });
    const hex = toHex(digest);
    if (this.#seen.has(hex)) return;
    this.#seen.add(hex);
    this.#addedBytes += putChunkSync(this.#cfg.layout, digest, hex, data, this.#dedup);
  }

  async #fail(err: unknown): Promise<never> {
    const e = fsError(err, this.#cfg.layout.packs, 'writing');
    this.#state = 'failed';
    this.#failure = e;
    await this.#discard();
    throw e;
  }

  /** Drops the hashing state, and the record's temp file if close() failed writing it. */
  async #discard(): Promise<void> {
    const temp = this.#recordTemp;
    this.#recordTemp = undefined;
    this.#seen = new Set();
    this.#dedup = newDedup(this.#cfg.durable);
    this.#chunkFailure = undefined;
    this.#addedBytes = 0;
    this.#chunks = [];
    this.#hasher = undefined;
    this.#remote?.dispose();
    this.#remote = undefined;
    this.#known = undefined;
    this.#chunker = undefined;
    if (temp === undefined) return;
    try {
      await rm(temp, { force: true });
    } catch {
      // Left for cleanTemp: a failed cleanup must not hide the outcome being reported.
    }
  }
}
