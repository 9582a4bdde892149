// FsBlobService: blobs in a data dir as FastCDC chunks stored once by their own BLAKE3
// digest plus one record per blob (size, chunk list, G=4 outboard); a blob of one group
// left whole by the chunker is its own chunk and has no record (one-group-blob.ts). Reads go through the
// verifying decoder; writes are staged in tmp/ and published by atomic renames, so
// several processes may share one data dir and a crash never exposes a partial file.

import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { groupBytes } from '../../verify/index.js';
import { blake3 } from '../../verify/index.js';
import { CastorError, InvalidInputError } from '../../verify/index.js';
import {
  BLOB_GROUP_LOG, checkBytes, checkDigest, checkReadRange, CorruptChunkError, CorruptRecordError, MissingChunkError,
  type BlobService, type BlobStat, type BlobWriter, type BlobWriterOptions, type ChunkRef, type Digest, type ReadRange,
} from '../blob-service.js';
import { ensureDir, syncDir } from '../fs/index.js';
import { ChunkListReader } from './chunk-list-reader.js';
import { asDigest, digestEquals } from '../digest.js';
import { cutParams, DEFAULT_CHUNKER, type ChunkerOptions } from '../chunking/index.js';
import { FsBlobWriter } from './fs-blob-writer.js';
import { putBytesSync, PUT_BYTES_LIMIT, type PutResult } from './fs-put-bytes.js';
import { FilePutter } from './put-file-pool.js';
import type { PutFileResult } from '../blob-service.js';
import { DataDirMissingError, fsError, isNotFound, pathExists, ReadOnlyStoreError } from '../fs/index.js';
import { FsLayout } from '../fs/index.js';
import { checkOutboardHeader, chunkDigest, decodeHead, decodeTable } from './fs-record.js';
import { loadRecord, readAt, reopenRecord, type LoadedRecord } from './record-file.js';
import { oneGroupBlobSize, oneGroupRecord } from './one-group-blob.js';
import { verifiedRead } from '../blobs/index.js';
import { knownPackEntry, openChunk, openPackedChunkSync, PackFiles, type ChunkHandle } from './packs/index.js';
import { readFully } from './packs/index.js';
import { closeSync } from 'node:fs';

export interface FsBlobServiceOptions {
  /** FastCDC sizes for blobs written from now on (stored records say their own chunks). @default DEFAULT_CHUNKER (16/64/256 KiB) */
  chunker?: ChunkerOptions;
  /** fsync files and directories, so what close() published survives power loss, not only a crash. @default true */
  durable?: boolean;
}

/** What FsBlobService.open checked and settled; the constructor takes it as given. */
export interface FsStoreInit {
  layout: FsLayout;
  chunker: ChunkerOptions;
  durable: boolean;
  readOnly?: Error;
}

export class FsBlobService implements BlobService {
  readonly layout: FsLayout;
  readonly #init: FsStoreInit;
  /** Small files stored on two threads (put-file-pool.ts), made on first use. */
  #putter: FilePutter | undefined;

  /** Use `FsBlobService.open`, which checks the data dir. */
  constructor(init: FsStoreInit) {
    this.#init = init;
    this.layout = init.layout;
  }

  /**
   * Opens the store in `dir`, which must exist (DATA_DIR_MISSING otherwise), creating
   * chunks/, blobs/ and tmp/ in it. A read-only dir opens for reading; writes then fail
   * with READ_ONLY.
   */
  static async open<S extends FsBlobService>(
    this: new (init: FsStoreInit) => S, dir: string, options: FsBlobServiceOptions = {},
  ): Promise<S> {
    const layout = new FsLayout(dir);
    const chunker = options.chunker ?? DEFAULT_CHUNKER;
    cutParams(chunker);
    let st;
    try {
      st = await stat(layout.root);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new DataDirMissingError(layout.root, 'does not exist', { cause: err });
      throw fsError(err, layout.root, 'opening');
    }
    if (!st.isDirectory()) throw new DataDirMissingError(layout.root, 'is not a directory');
    const durable = options.durable ?? true;
    let readOnly: Error | undefined;
    let created = false;
    for (const d of [layout.chunks, layout.blobs, layout.tmp]) {
      try {
        created = (await ensureDir(d)) || created;
      } catch (err: unknown) {
        if (!(err instanceof ReadOnlyStoreError)) throw err;
        readOnly ??= err;
      }
    }
    if (created && durable) await syncDir(layout.root);
    return new this({ layout, chunker, durable, readOnly });
  }

  async has(digest: Digest): Promise<boolean> {
    checkDigest(digest);
    return (await pathExists(this.layout.blobPath(digest))) || (await oneGroupBlobSize(this.layout, digest)) !== undefined;
  }

  async stat(digest: Digest): Promise<BlobStat | undefined> {
    const file = this.layout.blobPath(checkDigest(digest));
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw fsError(err, file, 'reading');
      const size = await oneGroupBlobSize(this.layout, digest);
      if (size === undefined) return undefined;
      const { chunks, outboard } = oneGroupRecord(digest, size);
      return { size, chunks, outboard };
    }
    const head = decodeHead(digest, bytes, bytes.length);
    const chunks = decodeTable(digest, head, bytes.subarray(head.tableOffset, head.tableOffset + head.tableLength));
    const outboard = bytes.slice(head.outboardOffset);
    checkOutboardHeader(digest, head, outboard);
    return { size: head.size, chunks, outboard };
  }

  async read(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkDigest(digest);
    const r = checkReadRange(range);
    // Loaded now so absence is `undefined` and a bad record an error here. One kept open (a
    // blob of a few hundred MiB or more) is closed, and the stream opens its file again for
    // the outboard, so a stream never iterated holds no file open.
    const rec = await loadRecord(this.layout, digest);
    if (!rec) return undefined;
    if (rec.open) await rec.close();
    return this.#stream(digest, r, rec);
  }

  async putBytes(bytes: Uint8Array): Promise<PutResult> {
    checkBytes(bytes);
    const { layout, chunker, durable, readOnly } = this.#init;
    if (readOnly) throw readOnly;
    if (bytes.length > PUT_BYTES_LIMIT) {
      // Hashed first so content already stored costs no writer (the writer cannot say
      // which of its chunks were new).
      const known = asDigest(blake3(bytes));
      if (await this.has(known)) return { digest: known, newBytes: 0 };
      const w = this.openWriter({ sizeHint: bytes.length });
      try {
        await w.write(bytes);
      } catch (err: unknown) {
        await w.abort();
        throw err;
      }
      const digest = await w.close();
      return { digest, newBytes: w.newBytes ?? bytes.length };
    }
    return putBytesSync(layout, chunker, bytes, durable);
  }

  putFile(file: Uint8Array): Promise<PutFileResult> {
    const { layout, chunker, durable, readOnly } = this.#init;
    if (readOnly) return Promise.reject(readOnly);
    this.#putter ??= new FilePutter({ root: layout.root, chunker, durable });
    return this.#putter.put(file);
  }

  /**
   * A packed blob this thread knows (pack-index.ts), read with one pread from its pack and
   * hashed whole: exporting a tree of small files took about 200 µs of CPU a file through
   * the streaming read's asynchronous opens, reads and closes.
   */
  readSmall(digest: Digest): Uint8Array | undefined {
    checkDigest(digest);
    const opened = openPackedChunkSync(this.layout, digest, false);
    if (opened === undefined) return undefined;
    const { fd, entry } = opened;
    const bytes = new Uint8Array(entry.size);
    try {
      if (readFully(fd, bytes, entry.offset) !== entry.size) throw new CorruptChunkError(digest, digest, 0, `its packed entry in ${entry.pack} is cut short`);
    } finally {
      closeSync(fd);
    }
    if (!digestEquals(chunkDigest(bytes), digest)) throw new CorruptChunkError(digest, digest, 0, `its bytes in ${entry.pack} do not hash to its digest`);
    return bytes;
  }

  openWriter(options?: BlobWriterOptions): BlobWriter {
    const { layout, chunker, durable, readOnly } = this.#init;
    return new FsBlobWriter({ layout, chunker, durable, readOnly }, options);
  }

  /**
   * Removes what crashed or failed writers left in tmp/: entries not modified for
   * `olderThanMs`. A live writer's staging dir changes with every chunk it stages, so
   * pick a margin longer than any writer's pause between chunks (an hour is generous).
   * Resolves to the number of entries removed.
   */
  async cleanTemp(olderThanMs: number): Promise<number> {
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) throw new InvalidInputError('olderThanMs must be a non-negative number', olderThanMs);
    const cutoff = Date.now() - olderThanMs;
    let names: string[];
    try {
      names = await readdir(this.layout.tmp);
    } catch (err: unknown) {
      if (isNotFound(err)) return 0;
      throw fsError(err, this.layout.tmp, 'listing');
    }
    let removed = 0;
    for (const name of names) {
      const entry = path.join(this.layout.tmp, name);
      try {
        if ((await lstat(entry)).mtimeMs > cutoff) continue;
        await rm(entry, { recursive: true, force: true });
        removed++;
      } catch (err: unknown) {
        // Another process's cleanTemp or a finishing writer got there first.
        if (!isNotFound(err)) throw fsError(err, entry, 'removing');
      }
    }
    return removed;
  }

  /**
   * Opens a chunk's file, or the packed blob it is when there is none (packed-chunk.ts). A
   * seam for instrumentation; the caller checks size and content. `packs`: the read's open
   * pack files, reused across its chunks.
   */
  protected openChunkFile(chunk: ChunkRef, packs?: PackFiles): Promise<ChunkHandle> {
    return openChunk(this.layout, chunk, packs);
  }

  async *#stream(digest: Digest, range: ReadRange | undefined, loaded: LoadedRecord): AsyncGenerator<Uint8Array> {
    const rec = await reopenRecord(this.layout, digest, loaded);
    if (!rec) throw new CorruptRecordError(digest, 'record was removed while the blob was being read');
    const packs = new PackFiles();
    // Runs of packed chunks are read no further than the groups the range needs.
    const size = rec.head.size;
    const gb = groupBytes(BLOB_GROUP_LOG);
    const end = range === undefined ? size : Math.min(size, Math.ceil(Math.max(range.end, range.start + 1) / gb) * gb);
    const locate = (c: ChunkRef) => knownPackEntry(this.layout, c);
    const data = new ChunkListReader(rec.table, (c, _i, offset) => this.#openChunk(digest, c, offset, packs), { locate, end });
    yield* verifiedRead({
      digest,
      outboard: rec.outboard,
      data,
      range,
      blame: (err, offset) => this.#blame(digest, rec, data, err, offset),
      release: async () => {
        await data.close();
        await packs.close();
        await rec.close();
      },
    });
  }

  /** Opens chunk `c` (at content offset `offset` of blob `blob`) after checking it is there whole. */
  async #openChunk(blob: Digest, c: ChunkRef, offset: number, packs?: PackFiles): Promise<ChunkHandle> {
    let fh: ChunkHandle;
    try {
      fh = await this.openChunkFile(c, packs);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new MissingChunkError(c.digest, blob, offset, { cause: err });
      throw fsError(err, this.layout.chunkPath(c.digest), 'opening');
    }
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err: unknown) {
      await fh.close();
      throw fsError(err, this.layout.chunkPath(c.digest), 'checking');
    }
    if (size !== c.size) {
      await fh.close();
      throw new CorruptChunkError(c.digest, blob, offset, `its file is ${size} bytes, the record says ${c.size}`);
    }
    return fh;
  }

  /**
   * Says which stored part is bad once the decoder rejects content near `offset`. Chunks
   * are not hashed on the normal read path: the outboard already covers every byte, and a
   * whole-chunk hash would force reading all of a chunk for a range inside it. Only here,
   * to put a name on the damage, are the chunks under the failing group hashed whole; if
   * they all match their digests, the outboard is what is wrong.
   */
  async #blame(blob: Digest, rec: LoadedRecord, reader: ChunkListReader, err: CastorError, offset: number): Promise<Error> {
    const size = rec.head.size;
    const gb = groupBytes(BLOB_GROUP_LOG);
    const start = Math.min(Math.floor(offset / gb) * gb, Math.max(0, size - 1));
    const end = Math.min(start + gb, size);
    const count = rec.table.count;
    for (let i = size === 0 ? count : reader.chunkAt(start); i < count && reader.chunkStart(i) < end; i++) {
      const c = rec.table.ref(i);
      const at = reader.chunkStart(i);
      try {
        const fh = await this.#openChunk(blob, c, at);
        let bytes: Uint8Array;
        try { bytes = await readAt(fh, 0, c.size); } finally { await fh.close(); }
        if (!digestEquals(chunkDigest(bytes), c.digest)) return new CorruptChunkError(c.digest, blob, at, 'its bytes do not hash to its digest');
      } catch (e: unknown) {
        // A packed chunk whose pack was cut short still has its entry's size, and reads end early.
        if (e instanceof CastorError && e.code === 'UNEXPECTED_EOF') return new CorruptChunkError(c.digest, blob, at, 'its stored bytes are cut short');
        return fsError(e, this.layout.chunkPath(c.digest), 'reading');
      }
    }
    return new CorruptRecordError(blob, `its outboard does not match the stored data at content offset ${offset}`, { cause: err });
  }
}
