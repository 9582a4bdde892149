// The FsBlobService writer. One pass over the input hashes the blob with its G=4 outboard,
// cuts FastCDC chunks and stages each new chunk, fsynced, in the writer's own dir under
// tmp/. close() renames the chunks into chunks/, makes that durable, and only then
// publishes the record, so a visible record never names a missing chunk and a writer
// killed at any moment leaves only its staging dir behind.

import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Hasher, toHex } from '../verify/blake3/index.js';
import { withHeader } from '../verify/bao/index.js';
import { moveInto, syncDir, writeSynced } from './atomic-write.js';
import {
  BLOB_GROUP_LOG, checkBytes, WriterClosedError, type BlobWriter, type ChunkRef, type Digest,
} from './blob-service.js';
import { asDigest } from './digest.js';
import { FastCdcChunker, type Chunk, type ChunkerOptions } from './fastcdc.js';
import { DataDirMissingError, errnoOf, fsError, isNotFound } from './fs-errors.js';
import type { FsLayout } from './fs-layout.js';
import { chunkDigest, encodeRecord } from './fs-record.js';

export interface FsWriterConfig {
  layout: FsLayout;
  chunker: ChunkerOptions;
  durable: boolean;
  /** Set when the data dir was found read-only at open: every write fails with it. */
  readOnly?: Error;
}

type State = 'open' | 'closing' | 'closed' | 'aborted' | 'failed';

const RECORD_FILE = 'record';

export class FsBlobWriter implements BlobWriter {
  readonly #cfg: FsWriterConfig;
  #state: State = 'open';
  /** Orders writes issued without awaiting; each caller still gets its own write's result. */
  #queue: Promise<void> = Promise.resolve();
  #hasher: Hasher | undefined = new Hasher({ groupLog: BLOB_GROUP_LOG });
  #chunker: FastCdcChunker | undefined;
  #chunks: ChunkRef[] = [];
  /** Chunks this writer has dealt with: true if staged here, false if already in chunks/. */
  #seen = new Map<string, boolean>();
  #staging: string | undefined;
  #failure: Error | undefined;

  constructor(cfg: FsWriterConfig) {
    this.#cfg = cfg;
    this.#chunker = new FastCdcChunker(cfg.chunker);
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
      this.#hasher!.update(bytes);
      // Chunks are views into `bytes` or the chunker's carry: stored before write resolves.
      for (const c of this.#chunker!.push(bytes)) {
        await this.#storeChunk(c);
        if (!this.#accepting()) return;
      }
    } catch (err: unknown) {
      await this.#fail(err);
    }
  }

  async #close(): Promise<Digest> {
    if (this.#state !== 'closing') throw this.#closedError();
    if (this.#cfg.readOnly) return this.#fail(this.#cfg.readOnly);
    try {
      for (const c of this.#chunker!.finish()) await this.#storeChunk(c);
      const r = this.#hasher!.finalize();
      const digest = asDigest(r.hash);
      const record = encodeRecord(r.length, this.#chunks, withHeader(r.length, r.nodes!));
      const { layout, durable } = this.#cfg;
      const staging = await this.#stagingDir();
      // Chunks first, durably, so the record published below never names a missing chunk.
      const dirty = new Set<string>();
      for (const [hex, staged] of this.#seen) {
        if (!staged) continue;
        for (const d of await moveInto(path.join(staging, hex), layout.chunkPath(hex))) dirty.add(d);
      }
      if (durable) for (const d of dirty) await syncDir(d);
      const recordTemp = path.join(staging, RECORD_FILE);
      await writeSynced(recordTemp, record, durable);
      const recordDirs = await moveInto(recordTemp, layout.blobPath(digest));
      if (durable) for (const d of recordDirs) await syncDir(d);
      this.#state = 'closed';
      await this.#discard();
      return digest;
    } catch (err: unknown) {
      return this.#fail(err);
    }
  }

  async #storeChunk(c: Chunk): Promise<void> {
    const digest = chunkDigest(c.data);
    this.#chunks.push({ digest, size: c.length });
    const hex = toHex(digest);
    if (this.#seen.has(hex)) return;
    if (await this.#alreadyStored(hex, c.length)) {
      this.#seen.set(hex, false);
      return;
    }
    const staging = await this.#stagingDir();
    await writeSynced(path.join(staging, hex), c.data, this.#cfg.durable);
    this.#seen.set(hex, true);
  }

  /**
   * Dedup: a chunk file already there under this digest is kept. Its size is checked (a
   * file of the wrong size is corrupt and gets replaced by this writer's copy); its bytes
   * are not rehashed, since every read verifies them through the blob's outboard anyway.
   */
  async #alreadyStored(hex: string, size: number): Promise<boolean> {
    const file = this.#cfg.layout.chunkPath(hex);
    try {
      return (await stat(file)).size === size;
    } catch (err: unknown) {
      if (isNotFound(err)) return false;
      throw fsError(err, file, 'checking');
    }
  }

  async #stagingDir(): Promise<string> {
    if (this.#staging !== undefined) return this.#staging;
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
    await this.#discard();
    throw e;
  }

  /** Removes the staging dir with whatever it still holds, and drops the hashing state. */
  async #discard(): Promise<void> {
    const dir = this.#staging;
    this.#staging = undefined;
    this.#seen = new Map();
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
