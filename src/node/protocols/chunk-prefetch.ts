// A ByteReader over a stored blob's chunk files that reads ahead: the content spans a
// slice will need are known before it starts (its group-aligned ranges), so the chunk
// pieces under them are read several at a time, in order, while the decoder works on
// earlier ones. Each piece is read with synchronous calls (open, read, close): chunk files
// are 64 KiB and usually in the page cache, where that takes tens of microseconds, while
// the same three calls through the thread pool cost three round trips whose wake-ups take
// the core from this thread (2.3 s of the server's main thread per 256 MiB served, profiled
// on the 2-core machine kind, where server and client share the cores).

import fs from 'node:fs';
import { joinPieces, type ByteRange, type ByteReader } from '../../verify/bao/index.js';
import { UnexpectedEofError } from '../../verify/errors.js';
import type { ChunkRef } from '../../store/blob-service.js';
import type { FsLayout } from '../../store/fs-layout.js';

/** Chunk pieces read ahead of the one the decoder is on. */
const AHEAD = 16;
/** Largest piece read in one go (a chunk is cut into pieces of at most this). */
const PIECE = 1 << 20;

/** A chunk of a blob and the content offset where it starts. */
export interface ChunkSpan {
  readonly chunk: ChunkRef;
  readonly start: number;
}

interface Piece {
  /** Content offsets [start, end). */
  readonly start: number;
  readonly end: number;
  readonly chunk: ChunkRef;
  /** Offset of `start` inside the chunk. */
  readonly at: number;
  bytes?: Promise<Uint8Array>;
}

/**
 * Reads `len` bytes at `at` of chunk `c`. A file cut short is UNEXPECTED_EOF; one with
 * other bytes than the record says fails verification on its way out, like any damage.
 * Settled at once (synchronous reads, see above); a promise so the reader's queue keeps one shape.
 */
function readPiece(layout: FsLayout, c: ChunkRef, at: number, len: number): Promise<Uint8Array> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(layout.chunkPath(c.digest), 'r');
    const buf = new Uint8Array(len);
    for (let got = 0; got < len;) {
      const n = fs.readSync(fd, buf, got, len - got, at + got);
      if (n === 0) throw new UnexpectedEofError(at + got, len - got);
      got += n;
    }
    const done = fd;
    fd = undefined;
    fs.closeSync(done);
    return Promise.resolve(buf);
  } catch (err: unknown) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* the read's failure is the one reported */ }
    }
    return Promise.reject(err);
  }
}

export class PrefetchingChunkReader implements ByteReader {
  position = 0;
  readonly #layout: FsLayout;
  readonly #pieces: Piece[] = [];
  #next = 0;
  #loaded = 0;

  /**
   * `spans`: sorted, disjoint content ranges that will be read, in order (skips between
   * them are free); `chunks`: the chunks under them with their content offsets, in order.
   */
  constructor(layout: FsLayout, chunks: readonly ChunkSpan[], spans: readonly ByteRange[]) {
    this.#layout = layout;
    let ci = 0;
    for (const span of spans) {
      while (ci < chunks.length && chunks[ci]!.start + chunks[ci]!.chunk.size <= span.start) ci++;
      let pos = span.start;
      for (let i = ci; pos < span.end && i < chunks.length; i++) {
        const { chunk, start } = chunks[i]!;
        if (start > pos) break; // a hole in the list given: the read there fails
        while (pos < span.end && pos < start + chunk.size) {
          const end = Math.min(span.end, start + chunk.size, pos + PIECE);
          this.#pieces.push({ start: pos, end, chunk, at: pos - start });
          pos = end;
        }
      }
    }
  }

  #pump(): void {
    while (this.#loaded < this.#pieces.length && this.#loaded < this.#next + AHEAD) {
      const p = this.#pieces[this.#loaded++]!;
      p.bytes = readPiece(this.#layout, p.chunk, p.at, p.end - p.start);
      // Awaited when its turn comes; a failure of one not reached yet must not be unhandled.
      p.bytes.catch(() => undefined);
    }
  }

  /** The piece holding content byte `pos`, dropping those before it. */
  #pieceAt(pos: number): Piece | undefined {
    while (this.#next < this.#pieces.length && this.#pieces[this.#next]!.end <= pos) {
      this.#pieces[this.#next]!.bytes = undefined;
      this.#next++;
    }
    const p = this.#pieces[this.#next];
    return p !== undefined && p.start <= pos ? p : undefined;
  }

  async read(n: number): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    const parts: Uint8Array[] = [];
    let pos = this.position;
    let left = n;
    while (left > 0) {
      const p = this.#pieceAt(pos);
      if (p === undefined) throw new UnexpectedEofError(pos, left);
      this.#pump();
      const bytes = await p.bytes!;
      const off = pos - p.start;
      const take = Math.min(left, p.end - pos);
      parts.push(bytes.subarray(off, off + take));
      pos += take;
      left -= take;
    }
    this.position = pos;
    return joinPieces(parts, n);
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }
}
