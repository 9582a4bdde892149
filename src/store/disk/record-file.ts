// Opening a stored blob record for the store-wide walks (fsck, gc): the head and chunk
// table are read and checked, the outboard is left on disk for a streaming reader.

import { open, type FileHandle } from 'node:fs/promises';
import { BytesReader, FileReader, type ByteReader } from '../../verify/index.js';
import { CastorError, UnexpectedEofError } from '../../verify/index.js';
import { CorruptRecordError, type ChunkRef, type Digest } from '../blob-service.js';
import { fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { checkOutboardHeader, decodeChunkTable, decodeHead, RECORD_HEAD_LEN, type RecordHead } from './fs-record.js';
import { ChunkTable } from './chunk-table.js';
import { oneGroupBlobSize, oneGroupRecord } from './one-group-blob.js';
import type { ChunkHandle } from './packs/index.js';

export interface OpenedRecord {
  readonly fh: FileHandle;
  readonly head: RecordHead;
  readonly table: ChunkTable;
}

/** `file` open for reading; undefined if it does not exist. */
async function openIfPresent(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, 'r');
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw fsError(err, file, 'opening');
  }
}

/**
 * The record of `blob`, open, with its head, chunk table and outboard header checked;
 * undefined if there is none. A malformed record is CORRUPT_RECORD; the caller closes `fh`.
 */
export async function openRecordFile(layout: FsLayout, blob: Digest): Promise<OpenedRecord | undefined> {
  const file = layout.blobPath(blob);
  const fh = await openIfPresent(file);
  if (fh === undefined) return undefined;
  try {
    const { size } = await fh.stat();
    const head = decodeHead(blob, await readAt(fh, 0, Math.min(RECORD_HEAD_LEN, size)), size);
    const table = decodeChunkTable(blob, head, await readAt(fh, head.tableOffset, head.tableLength));
    checkOutboardHeader(blob, head, await readAt(fh, head.outboardOffset, 8));
    return { fh, head, table };
  } catch (err: unknown) {
    await fh.close();
    // The head said how long the file is; running out of it means it shrank under us.
    if (err instanceof CastorError && err.code === 'UNEXPECTED_EOF') throw new CorruptRecordError(blob, 'record was cut short while being read', { cause: err });
    throw fsError(err, file, 'reading');
  }
}

/** Records up to this size (a blob up to about 256 MiB) are read whole by loadRecord. */
const WHOLE_RECORD_MAX = 1 << 20;
/** loadRecord's first read: all of a record for blobs up to a few MiB. */
const FIRST_READ = 16 << 10;

export interface LoadedRecord {
  head: RecordHead;
  /** The chunk list, without an object per chunk. */
  table: ChunkTable;
  /** The chunk list as ChunkRefs (made on first use). */
  readonly chunks: ChunkRef[];
  /** The outboard, header first. */
  outboard: ByteReader;
  recordBytes: number;
  /** Whether the record's file is still open (a large record streams its outboard); close() closes it. */
  open: boolean;
  close(): Promise<void>;
}

/**
 * The record of `blob`, head, chunk table and outboard header checked; undefined if the
 * store does not hold the blob. A malformed record is CORRUPT_RECORD. A small record is read
 * in one call and its file closed at once (most blobs: one read instead of four, and no 1 MiB
 * read window); a large one keeps its file open and streams the outboard from it. A blob
 * kept as its chunk alone (one-group-blob.ts) gets the record it would have had.
 */
export async function loadRecord(layout: FsLayout, blob: Digest): Promise<LoadedRecord | undefined> {
  const file = layout.blobPath(blob);
  const fh = await openIfPresent(file);
  if (fh === undefined) return loadOneGroupRecord(layout, blob);
  try {
    // Most records are small: one read gets all of one, with no fstat. A read that fills
    // the buffer means there may be more.
    let bytes = new Uint8Array(FIRST_READ);
    let size = await readSome(fh, bytes, 0);
    if (size === FIRST_READ) {
      size = (await fh.stat()).size;
      if (size > WHOLE_RECORD_MAX) {
        await fh.close();
        const rec = await openRecordFile(layout, blob);
        if (rec === undefined) return undefined;
        return loaded(rec.head, rec.table, new FileReader(rec.fh, rec.head.outboardOffset, rec.head.recordLength), rec.head.recordLength, rec.fh);
      }
      if (size < FIRST_READ) throw new CorruptRecordError(blob, 'record was cut short while being read');
      const all = new Uint8Array(size);
      all.set(bytes);
      if (await readSome(fh, all, FIRST_READ) !== size) throw new CorruptRecordError(blob, 'record was cut short while being read');
      bytes = all;
    }
    bytes = bytes.subarray(0, size);
    await fh.close();
    const head = decodeHead(blob, bytes.subarray(0, Math.min(RECORD_HEAD_LEN, size)), size);
    const table = decodeChunkTable(blob, head, bytes.subarray(head.tableOffset, head.tableOffset + head.tableLength));
    const outboard = bytes.subarray(head.outboardOffset);
    checkOutboardHeader(blob, head, outboard);
    return loaded(head, table, new BytesReader(outboard), size, undefined);
  } catch (err: unknown) {
    await fh.close().catch(() => undefined);
    throw fsError(err, file, 'reading');
  }
}

async function loadOneGroupRecord(layout: FsLayout, blob: Digest): Promise<LoadedRecord | undefined> {
  const size = await oneGroupBlobSize(layout, blob);
  if (size === undefined) return undefined;
  const { head, chunks, outboard } = oneGroupRecord(blob, size);
  return loaded(head, ChunkTable.of(chunks), new BytesReader(outboard), 0, undefined);
}

/** A LoadedRecord; `fh` is the record's file when it stays open (a large record's outboard is read from it). */
function loaded(head: RecordHead, table: ChunkTable, outboard: ByteReader, recordBytes: number, fh: FileHandle | undefined): LoadedRecord {
  return {
    head,
    table,
    get chunks() {
      return table.list();
    },
    outboard,
    recordBytes,
    open: fh !== undefined,
    close: async () => {
      await fh?.close();
    },
  };
}

/**
 * A large record loaded and closed (loadRecord, then close) opened again for its outboard,
 * its head and chunk table kept rather than read and decoded again (13,500 entries for a
 * 1 GiB blob). A record file is never changed once published, only removed (gc) or put
 * back whole, so the same length is the same record; undefined if it is gone.
 */
export async function reopenRecord(layout: FsLayout, blob: Digest, rec: LoadedRecord): Promise<LoadedRecord | undefined> {
  if (!rec.open) return rec;
  const file = layout.blobPath(blob);
  const fh = await openIfPresent(file);
  if (fh === undefined) return undefined;
  try {
    const { size } = await fh.stat();
    if (size !== rec.head.recordLength) throw new CorruptRecordError(blob, `record is ${size} bytes now, ${rec.head.recordLength} when it was opened`);
  } catch (err: unknown) {
    await fh.close();
    throw fsError(err, file, 'reading');
  }
  return loaded(rec.head, rec.table, new FileReader(fh, rec.head.outboardOffset, rec.head.recordLength), rec.recordBytes, fh);
}

/** The chunk list of `blob`'s record (or of the blob kept as its chunk alone), or undefined if the store does not hold it. */
export async function readChunkTable(layout: FsLayout, blob: Digest): Promise<ChunkRef[] | undefined> {
  const rec = await loadRecord(layout, blob);
  if (rec === undefined) return undefined;
  await rec.close();
  return rec.chunks;
}

/** Reads into `buf` from file position `at` (= buffer position) until it is full or the file ends; the bytes now in `buf`. */
export async function readSome(fh: Pick<ChunkHandle, 'read'>, buf: Uint8Array, at: number): Promise<number> {
  let got = at;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Exactly `n` bytes at `position`, or UNEXPECTED_EOF. */
export async function readAt(fh: Pick<ChunkHandle, 'read'>, position: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const { bytesRead } = await fh.read(buf, got, n - got, position + got);
    if (bytesRead === 0) throw new UnexpectedEofError(position + got, n - got);
    got += bytesRead;
  }
  return buf;
}
