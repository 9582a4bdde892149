// A stored blob's content as the verifying slicer reads it: content offsets mapped onto
// the chunks under the slice (packed, or chunk files), read straight into the buffer the
// slicer hands over (the hash kernel's own memory), so no buffer is allocated per piece.
// Reads are synchronous: chunks are 64 KiB and usually in the page cache, where a read takes
// tens of microseconds, while each call through the thread pool costs a round trip whose
// wake-up takes the core from this thread (2.3 s of the server's main thread per 256 MiB
// served, profiled on the 2-core machine kind, where server and client share the cores).
// The file of the chunk being read stays open until the reads move past it, so a chunk
// that straddles two batches is opened once.

import fs from 'node:fs';
import type { ContentSource } from '../../verify/index.js';
import { UnexpectedEofError } from '../../verify/index.js';
import type { ChunkRef } from '../../store/index.js';
import type { FsLayout } from '../../store/index.js';
import { openChunkSync } from '../../store/index.js';

/** A chunk of a blob and the content offset where it starts. */
export interface ChunkSpan {
  readonly chunk: ChunkRef;
  readonly start: number;
}

export class ChunkContent implements ContentSource {
  readonly #layout: FsLayout;
  readonly #chunks: readonly ChunkSpan[];
  /** The chunk the last read ended in: reads mostly go forward from it. */
  #at = 0;
  #fd: number | undefined;
  #fdChunk = -1;
  #base = 0;

  /** `chunks`: the chunks under the content that will be read, with their offsets, in order. */
  constructor(layout: FsLayout, chunks: readonly ChunkSpan[]) {
    this.#layout = layout;
    this.#chunks = chunks;
  }

  readInto(dst: Uint8Array, pos: number): void {
    for (let got = 0; got < dst.length;) {
      const at = pos + got;
      const i = this.#chunkAt(at);
      if (i < 0) throw new UnexpectedEofError(at, dst.length - got);
      const { chunk, start } = this.#chunks[i]!;
      const off = at - start;
      const n = Math.min(dst.length - got, chunk.size - off);
      const fd = this.#open(i);
      for (let done = 0; done < n;) {
        // A chunk file shorter than its record says is UNEXPECTED_EOF; one with other
        // bytes fails verification before anything of it is sent.
        const r = fs.readSync(fd, dst, got + done, n - done, this.#base + off + done);
        if (r === 0) throw new UnexpectedEofError(at + done, n - done);
        done += r;
      }
      got += n;
    }
  }

  /** Closes the chunk file left open. */
  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    this.#fdChunk = -1;
    if (fd !== undefined) fs.closeSync(fd);
  }

  /** Index of the chunk holding content byte `pos`, or -1 when none of the list does. */
  #chunkAt(pos: number): number {
    const cs = this.#chunks;
    if (this.#at >= cs.length || cs[this.#at]!.start > pos) this.#at = 0;
    while (this.#at < cs.length && cs[this.#at]!.start + cs[this.#at]!.chunk.size <= pos) this.#at++;
    const c = cs[this.#at];
    return c !== undefined && c.start <= pos ? this.#at : -1;
  }

  /** The fd chunk `i` is read from; #base is where the chunk begins in that file (a packed blob's place in its pack). */
  #open(i: number): number {
    if (this.#fdChunk === i && this.#fd !== undefined) return this.#fd;
    this.close();
    const { fd, base } = openChunkSync(this.#layout, this.#chunks[i]!.chunk);
    this.#fd = fd;
    this.#base = base;
    this.#fdChunk = i;
    return fd;
  }
}
