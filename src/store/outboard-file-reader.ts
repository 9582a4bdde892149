// Reading a stored outboard from its record file for the bao decoder. A range read walks
// the outboard in pre-order and skips every subtree outside the range, so it needs only
// the parents along the way down, a few dozen bytes at a time spread over the file; a
// whole-blob read needs all of it, front to back. The reader starts with small windows
// and doubles them while reads follow on one another (prefetching the next from then on),
// and drops back to small after a skip. With fixed 1 MiB windows and read-ahead, a 1 MiB
// range from the middle of a 1 GiB blob read 6.0 MiB of its 4 MiB outboard and chunk table.

import type { FileHandle } from 'node:fs/promises';
import type { ByteReader } from '../verify/bao/index.js';
import { UnexpectedEofError } from '../verify/errors.js';

/** The first window, and the one after a skip: a page. */
const SMALL_WINDOW = 4 << 10;
/** The largest window, reached after a few sequential windows: what a whole read uses. */
const LARGE_WINDOW = 1 << 20;

interface Window {
  readonly start: number;
  readonly bytes: Uint8Array;
}

export class OutboardFileReader implements ByteReader {
  #cur: Window = { start: 0, bytes: new Uint8Array(0) };
  /** The next window, read ahead once reads are sequential. */
  #ahead: { start: number; window: Promise<Window> } | undefined;
  #size = SMALL_WINDOW;
  position = 0;

  /** Reads `file` from `base` (the outboard's offset in the record) to `end` (the record's length). */
  constructor(private readonly file: FileHandle, private readonly base: number, private readonly end: number) {}

  readNow(n: number): Uint8Array | null {
    const off = this.position - this.#cur.start;
    if (off < 0 || off + n > this.#cur.bytes.length) return null;
    this.position += n;
    return this.#cur.bytes.subarray(off, off + n);
  }

  async read(n: number): Promise<Uint8Array> {
    const now = this.readNow(n);
    if (now) return now;
    const out = new Uint8Array(n);
    for (let filled = 0; filled < n;) {
      let off = this.position - this.#cur.start;
      if (off < 0 || off >= this.#cur.bytes.length) {
        this.#cur = await this.#windowAt(this.position);
        off = 0;
        if (this.#cur.bytes.length === 0) throw new UnexpectedEofError(this.position, n - filled);
      }
      const take = Math.min(this.#cur.bytes.length - off, n - filled);
      out.set(this.#cur.bytes.subarray(off, off + take), filled);
      filled += take;
      this.position += take;
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }

  async #windowAt(pos: number): Promise<Window> {
    const sequential = pos === this.#cur.start + this.#cur.bytes.length && this.#cur.bytes.length > 0;
    this.#size = sequential ? Math.min(this.#size * 2, LARGE_WINDOW) : SMALL_WINDOW;
    const ahead = this.#ahead;
    this.#ahead = undefined;
    const w = ahead !== undefined && ahead.start === pos ? await ahead.window : await this.#fetch(pos, this.#size);
    const next = pos + w.bytes.length;
    if (this.#size === LARGE_WINDOW && this.base + next < this.end) {
      const window = this.#fetch(next, LARGE_WINDOW);
      // A read-ahead nobody awaits must not become an unhandled rejection; a reader that needs it sees the error.
      window.catch(() => {});
      this.#ahead = { start: next, window };
    }
    return w;
  }

  async #fetch(pos: number, size: number): Promise<Window> {
    const len = Math.max(0, Math.min(size, this.end - this.base - pos));
    // A fresh buffer each time: views handed out earlier stay intact.
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.file.read(buf, got, len - got, this.base + pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { start: pos, bytes: buf.subarray(0, got) };
  }
}
