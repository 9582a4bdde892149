// A blob in the local disk store as the blob server reads it: the record's head, the
// chunks under the spans a slice needs (not an object per chunk of the whole table), and
// its outboard read from the record file in small windows, so a range of a large blob
// reads only the parents its slice needs (a 1 GiB blob has a 4 MiB outboard and 16,000
// chunks; a 1 MiB range needs a few KiB of the one and a few dozen of the other).
// The record is read with synchronous calls, like the chunks (chunk-content.ts): it is
// small and usually in the page cache, and the five or so thread-pool round trips of
// opening it asynchronously cost a loaded 2-core machine several milliseconds of a 1 MiB
// range's latency (2 to 8 ms measured from request to header, 1 GiB blob).

import fs from 'node:fs';
import { BytesReader, type ByteRange, type ByteReader } from '../../verify/index.js';
import { UnexpectedEofError } from '../../verify/index.js';
import { CorruptRecordError, type Digest } from '../../store/index.js';
import { asDigest } from '../../store/index.js';
import type { DataDir } from '../../store/index.js';
import type { FsLayout } from '../../store/index.js';
import { oneGroupBlobSize, oneGroupRecord } from '../../store/index.js';
import { checkOutboardHeader, decodeHead, RECORD_HEAD_LEN, type RecordHead } from '../../store/index.js';
import type { ChunkSpan } from './chunk-content.js';

/** Bytes of one chunk table entry in a blob record (fs-record.ts): digest, u32 size. */
const ENTRY_LEN = 36;
/** Outboard bytes read per window: 1,000 parents, and little waste for a range's few. */
const WINDOW = 64 * 1024;

export interface StoredBlob {
  /** The content length the record (and its outboard's header) states. */
  readonly length: number;
  /** The outboard, header first, read on demand from the record file. */
  readonly outboard: ByteReader;
  /** The chunk files under `spans` (sorted, disjoint content ranges), in order. */
  chunksUnder(spans: readonly ByteRange[]): Promise<ChunkSpan[]>;
  readonly layout: FsLayout;
  close(): Promise<void>;
}

/** `len` bytes at `pos` of the open file `fd`; UNEXPECTED_EOF if it ends first. */
function readAtSync(fd: number, pos: number, len: number): Uint8Array {
  const buf = new Uint8Array(len);
  for (let got = 0; got < len;) {
    const n = fs.readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) throw new UnexpectedEofError(pos + got, len - got);
    got += n;
  }
  return buf;
}

/** Reads a region of an open file at positions, in small windows; skipping is free. */
class WindowReader implements ByteReader {
  position = 0;
  #window: Uint8Array = new Uint8Array(0);
  #windowStart = 0;

  constructor(private readonly fd: number, private readonly base: number, private readonly length: number) {}

  readNow(n: number): Uint8Array | null {
    const off = this.position - this.#windowStart;
    if (off < 0 || off + n > this.#window.length) return null;
    this.position += n;
    return this.#window.subarray(off, off + n);
  }

  async read(n: number): Promise<Uint8Array> {
    const now = this.readNow(n);
    if (now !== null) return now;
    if (this.position + n > this.length) throw new UnexpectedEofError(this.length, this.position + n - this.length);
    // A fresh window each time: views handed out earlier stay intact.
    const len = Math.min(this.length - this.position, Math.max(n, WINDOW));
    this.#window = readAtSync(this.fd, this.base + this.position, len);
    this.#windowStart = this.position;
    return this.readNow(n)!;
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }
}

/** The chunks of the record's table under `spans`, checking the table adds up to the size. */
function chunksUnder(blob: Digest, head: RecordHead, table: Uint8Array, spans: readonly ByteRange[]): ChunkSpan[] {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: ChunkSpan[] = [];
  let si = 0;
  let start = 0;
  for (let at = 0; at < table.length; at += ENTRY_LEN) {
    const size = view.getUint32(at + 32, true);
    if (size === 0) throw new CorruptRecordError(blob, `chunk ${at / ENTRY_LEN} has size 0`);
    const end = start + size;
    while (si < spans.length && spans[si]!.end <= start) si++;
    if (si < spans.length && spans[si]!.start < end) out.push({ chunk: { digest: asDigest(table.slice(at, at + 32)), size }, start });
    start = end;
  }
  if (start !== head.size) throw new CorruptRecordError(blob, `chunk sizes add up to ${start}, not the size ${head.size}`);
  return out;
}

/** The stored blob `digest`, or undefined when the store does not hold it whole. */
export async function openStoredBlob(data: DataDir, digest: Digest): Promise<StoredBlob | undefined> {
  let fd: number;
  try {
    fd = fs.openSync(data.layout.blobPath(digest), 'r');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return openOneGroupBlob(data, digest);
    throw err;
  }
  try {
    const { size } = fs.fstatSync(fd);
    const head = decodeHead(digest, readAtSync(fd, 0, Math.min(RECORD_HEAD_LEN, size)), size);
    checkOutboardHeader(digest, head, readAtSync(fd, head.outboardOffset, 8));
    return {
      length: head.size,
      outboard: new WindowReader(fd, head.outboardOffset, head.recordLength - head.outboardOffset),
      chunksUnder: async (spans) => chunksUnder(digest, head, readAtSync(fd, head.tableOffset, head.tableLength), spans),
      layout: data.layout,
      close: async () => fs.closeSync(fd),
    };
  } catch (err: unknown) {
    fs.closeSync(fd);
    throw err;
  }
}

/** A blob the store keeps as its chunk alone (no record): its outboard is the header, its one chunk itself. */
async function openOneGroupBlob(data: DataDir, digest: Digest): Promise<StoredBlob | undefined> {
  const size = await oneGroupBlobSize(data.layout, digest);
  if (size === undefined) return undefined;
  const { chunks, outboard } = oneGroupRecord(digest, size);
  return {
    length: size,
    outboard: new BytesReader(outboard),
    chunksUnder: async (spans) => (spans.some((s) => s.start < size && s.end > 0) ? [{ chunk: chunks[0]!, start: 0 }] : []),
    layout: data.layout,
    close: async () => {},
  };
}
