// A ByteReader over a blob stored as a list of chunk files: content offsets map to chunks
// through cumulative sizes, and a chunk's file is opened only when a read lands in it, so
// a decoder that skips to a range touches only the chunks under that range. A sequential
// read of packed chunks takes the chunks that follow in the same pack with the same pread
// (a writer appends a blob's chunks side by side), instead of a read per 64 KiB chunk.

import { UnexpectedEofError } from '../../verify/index.js';
import { joinPieces, type ByteReader } from '../../verify/index.js';
import type { ChunkRef } from '../blob-service.js';
import { ChunkTable } from './chunk-table.js';
import type { ChunkHandle, PackEntry } from './packs/index.js';

/** Opens chunk `index` of the list; the opener checks the file is there and of the right size. */
export type ChunkOpener = (chunk: ChunkRef, index: number, contentOffset: number) => Promise<ChunkHandle>;

/** Where a chunk is packed, if known without opening anything. */
export type ChunkLocator = (chunk: ChunkRef) => PackEntry | undefined;

export interface RunReads {
  readonly locate: ChunkLocator;
  /** Content offset a run stops before: the end of the groups a range read needs, so it reads no chunk past them. */
  readonly end: number;
}

/** Read-ahead within one chunk: a default-sized chunk in one read, a 16 MiB one in pieces. */
const READ_AHEAD = 256 * 1024;
/** Most bytes one pread takes of a run of packed chunks (held until the read moves past them). */
const PACK_RUN = 1024 * 1024;
/** Most bytes between two entries for them to be read in one pread (an entry's head is 40). */
const PACK_RUN_GAP = 256;

export class ChunkListReader implements ByteReader {
  position = 0;
  readonly #table: ChunkTable;
  readonly #open: ChunkOpener;
  #current = -1;
  #file: ChunkHandle | undefined;
  // Holds content bytes [bufStart, bufStart + buf.length) of the current chunk. Replaced,
  // never refilled in place, so views handed out stay valid.
  #buf: Uint8Array = new Uint8Array(0);
  #bufStart = 0;
  readonly #runs: RunReads | undefined;
  // Whole chunks [runFirst, runFirst + run.length) read with an earlier chunk's pread.
  #run: Uint8Array[] = [];
  #runFirst = 0;

  /** `runs`: lets a sequential read take packed chunks after the current one in one pread. */
  constructor(chunks: ChunkTable | readonly ChunkRef[], open: ChunkOpener, runs?: RunReads) {
    this.#table = chunks instanceof ChunkTable ? chunks : ChunkTable.of(chunks);
    this.#open = open;
    this.#runs = runs;
  }

  get size(): number {
    return this.#table.size;
  }

  /** Index of the chunk holding content byte `offset` (which must be below the size). */
  chunkAt(offset: number): number {
    return this.#table.chunkAt(offset);
  }

  chunkStart(index: number): number {
    return this.#table.start(index);
  }

  readNow(n: number): Uint8Array | null {
    const off = this.position - this.#bufStart;
    if (n === 0 || off < 0 || off + n > this.#buf.length) return null;
    this.position += n;
    return this.#buf.subarray(off, off + n);
  }

  async read(n: number): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    if (this.position + n > this.size) throw new UnexpectedEofError(this.size, this.position + n - this.size);
    const pieces: Uint8Array[] = [];
    let pos = this.position;
    let left = n;
    while (left > 0) {
      if (pos < this.#bufStart || pos >= this.#bufStart + this.#buf.length) await this.#fill(pos, left);
      const off = pos - this.#bufStart;
      const take = Math.min(left, this.#buf.length - off);
      pieces.push(this.#buf.subarray(off, off + take));
      pos += take;
      left -= take;
    }
    this.position = pos;
    return joinPieces(pieces, n);
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }

  async close(): Promise<void> {
    const f = this.#file;
    this.#file = undefined;
    this.#current = -1;
    this.#buf = new Uint8Array(0);
    this.#run = [];
    await f?.close();
  }

  /** Loads content bytes from `pos` on (at least `want` of them, or to the chunk's end). */
  async #fill(pos: number, want: number): Promise<void> {
    const index = this.chunkAt(pos);
    const start = this.#table.start(index);
    const ran = this.#run[index - this.#runFirst];
    if (ran !== undefined && index >= this.#runFirst) {
      this.#buf = ran.subarray(pos - start);
      this.#bufStart = pos;
      return;
    }
    const sequential = pos === start && pos === this.#bufStart + this.#buf.length;
    if (index !== this.#current) {
      const f = this.#file;
      this.#file = undefined;
      this.#current = -1;
      await f?.close();
      this.#file = await this.#open(this.#table.ref(index), index, start);
      this.#current = index;
    }
    if (sequential && (await this.#fillRun(index))) return;
    const inChunk = pos - start;
    const len = Math.min(this.#table.start(index + 1) - pos, Math.max(want, READ_AHEAD));
    const buf = new Uint8Array(len);
    for (let got = 0; got < len;) {
      const { bytesRead } = await this.#file!.read(buf, got, len - got, inChunk + got);
      // The opener checked the size, so this is a file cut short while being read.
      if (bytesRead === 0) throw new UnexpectedEofError(pos + got, len - got);
      got += bytesRead;
    }
    this.#buf = buf;
    this.#bufStart = pos;
  }

  /**
   * Reads chunk `index` (open, its size checked by the opener) and the packed chunks right
   * after it in its pack with one pread. False, with nothing changed, when there are none
   * or the pack ends early (the single read then says so as it always did). The bytes are
   * the pack's, as opening each chunk would give them; the decoder verifies them all.
   */
  async #fillRun(index: number): Promise<boolean> {
    const packed = this.#file?.packed;
    const runs = this.#runs;
    if (packed === undefined || runs === undefined) return false;
    const first = packed.entry;
    const offsets = [first.offset];
    let end = first.offset + first.size;
    for (let j = index + 1; j < this.#table.count && this.#table.start(j) < runs.end; j++) {
      const ref = this.#table.ref(j);
      const e = runs.locate(ref);
      if (e === undefined || e.pack !== first.pack || e.size !== ref.size || e.offset < end || e.offset - end > PACK_RUN_GAP) break;
      if (e.offset + e.size - first.offset > PACK_RUN) break;
      offsets.push(e.offset);
      end = e.offset + e.size;
    }
    if (offsets.length === 1) return false;
    const buf = new Uint8Array(end - first.offset);
    for (let got = 0; got < buf.length;) {
      const { bytesRead } = await packed.read(buf, got, buf.length - got, first.offset + got);
      if (bytesRead === 0) return false;
      got += bytesRead;
    }
    const views = offsets.map((o, k) => buf.subarray(o - first.offset, o - first.offset + this.#table.ref(index + k).size));
    this.#run = views;
    this.#runFirst = index;
    this.#buf = views[0]!;
    this.#bufStart = this.#table.start(index);
    return true;
  }
}
