// A ByteReader over a blob stored as a list of chunk files: content offsets map to chunks
// through cumulative sizes, and a chunk's file is opened only when a read lands in it, so
// a decoder that skips to a range touches only the chunks under that range.

import { UnexpectedEofError } from '../../verify/index.js';
import { joinPieces, type ByteReader } from '../../verify/index.js';
import type { ChunkRef } from '../blob-service.js';
import { ChunkTable } from './chunk-table.js';
import type { ChunkHandle } from './packs/index.js';

/** Opens chunk `index` of the list; the opener checks the file is there and of the right size. */
export type ChunkOpener = (chunk: ChunkRef, index: number, contentOffset: number) => Promise<ChunkHandle>;

/** Read-ahead within one chunk: a default-sized chunk in one read, a 16 MiB one in pieces. */
const READ_AHEAD = 256 * 1024;

export class ChunkListReader implements ByteReader {
  position = 0;
  readonly #table: ChunkTable;
  readonly #open: ChunkOpener;
  #current = -1;
  #file: ChunkHandle | undefined;
  // Holds content bytes [bufStart, bufStart + buf.length) of the current chunk. Replaced,
  // never refilled in place, so views handed out stay valid.
  #buf = new Uint8Array(0);
  #bufStart = 0;

  constructor(chunks: ChunkTable | readonly ChunkRef[], open: ChunkOpener) {
    this.#table = chunks instanceof ChunkTable ? chunks : ChunkTable.of(chunks);
    this.#open = open;
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
    await f?.close();
  }

  /** Loads content bytes from `pos` on (at least `want` of them, or to the chunk's end). */
  async #fill(pos: number, want: number): Promise<void> {
    const index = this.chunkAt(pos);
    if (index !== this.#current) {
      await this.close();
      this.#file = await this.#open(this.#table.ref(index), index, this.#table.start(index));
      this.#current = index;
    }
    const inChunk = pos - this.#table.start(index);
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
}
