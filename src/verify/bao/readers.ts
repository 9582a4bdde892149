// Exact-length readers over the inputs a decoder is handed: a stream of any kind,
// an open file read at positions, or bytes in memory. A short read is an error,
// never a silently shorter result (bao spec, "short reads"). Returned views are
// never overwritten later, so callers may keep them.

import type { FileHandle } from 'node:fs/promises';
import { UnexpectedEofError } from '../errors.js';

export interface ByteReader {
  /** Exactly n bytes, or UnexpectedEofError. */
  read(n: number): Promise<Uint8Array>;
  /** Passes over n bytes (a file seeks; a stream reads and drops). */
  skip(n: number): Promise<void>;
  /** Bytes read or skipped so far. */
  readonly position: number;
  /** Exactly n bytes if they are already buffered (no await needed), else null and nothing consumed. */
  readNow?(n: number): Uint8Array | null;
}

/** `pieces` (of `n` bytes in all) as one array: the piece itself when there is one, else a copy. */
export function joinPieces(pieces: readonly Uint8Array[], n: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads from any async iterable of byte chunks (a Node Readable, a socket, a generator). */
export class StreamReader implements ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Uint8Array[] = [];
  private head = 0;
  private avail = 0;
  private done = false;
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.avail < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.avail += r.value.length;
      }
    }
    if (this.avail < n) throw new UnexpectedEofError(this.position + this.avail, n - this.avail);
  }

  readNow(n: number): Uint8Array | null {
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined || first.length < n) return null;
    this.position += n;
    this.avail -= n;
    this.consume(first, n);
    return first.subarray(0, n);
  }

  async read(n: number): Promise<Uint8Array> {
    if (this.avail < n) await this.fill(n);
    this.position += n;
    this.avail -= n;
    const first = this.chunks[this.head]!;
    if (n === 0) return new Uint8Array(0);
    if (first.length >= n) {
      this.consume(first, n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    for (let pos = 0; pos < n;) {
      const c = this.chunks[this.head]!;
      const take = Math.min(c.length, n - pos);
      out.set(c.subarray(0, take), pos);
      this.consume(c, take);
      pos += take;
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.avail === 0) await this.fill(1);
      const c = this.chunks[this.head]!;
      const take = Math.min(c.length, n);
      this.consume(c, take);
      this.avail -= take;
      this.position += take;
      n -= take;
    }
  }

  private consume(c: Uint8Array, n: number): void {
    if (n === c.length) {
      this.chunks[this.head++] = undefined as unknown as Uint8Array;
      if (this.head > 64) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.chunks[this.head] = c.subarray(n);
    }
  }
}

/** The first window, and the one after a jump: a page. */
const SMALL_WINDOW = 4 << 10;
/** The largest window, reached after a few sequential ones: what a whole read uses. */
const LARGE_WINDOW = 1 << 20;

interface Window {
  readonly start: number;
  readonly bytes: Uint8Array;
}

/**
 * Reads an open file from `base` onward (to `end`, when given) in windows that start at a
 * page and double while reads follow on one another, up to 1 MiB with the next window's
 * read in flight, so hashing and disk overlap on a whole read; after a skip past the
 * window it drops back to a page. A decoder walking one range of a large outboard reads
 * the few pages on its path (fixed 1 MiB windows with read-ahead made a 1 MiB range of a
 * 1 GiB blob read 6.0 MiB of outboard and chunk table, now 1.5 MiB). Skipping is free.
 */
export class FileReader implements ByteReader {
  private cur: Window = { start: 0, bytes: new Uint8Array(0) };
  /** The next window, read ahead once reads are sequential. */
  private ahead: { start: number; window: Promise<Window> } | undefined;
  private size = SMALL_WINDOW;
  position = 0;

  constructor(private readonly file: FileHandle, private readonly base = 0, private readonly end = Number.POSITIVE_INFINITY) {}

  readNow(n: number): Uint8Array | null {
    const off = this.position - this.cur.start;
    if (off < 0 || off + n > this.cur.bytes.length) return null;
    this.position += n;
    return this.cur.bytes.subarray(off, off + n);
  }

  async read(n: number): Promise<Uint8Array> {
    const now = this.readNow(n);
    if (now) return now;
    let out: Uint8Array | undefined;
    let filled = 0;
    while (filled < n) {
      let off = this.position - this.cur.start;
      if (off < 0 || off >= this.cur.bytes.length) {
        this.cur = await this.windowAt(this.position);
        off = 0;
        if (this.cur.bytes.length === 0) throw new UnexpectedEofError(this.position, n - filled);
      }
      const avail = this.cur.bytes.length - off;
      if (out === undefined && avail >= n) return this.readNow(n)!;
      out ??= new Uint8Array(n);
      const take = Math.min(avail, n - filled);
      out.set(this.cur.bytes.subarray(off, off + take), filled);
      filled += take;
      this.position += take;
    }
    return out ?? new Uint8Array(0);
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }

  /** The window starting at `pos`: the read-ahead one if it matches, else a fresh read; then read ahead if sequential. */
  private async windowAt(pos: number): Promise<Window> {
    const sequential = this.cur.bytes.length > 0 && pos === this.cur.start + this.cur.bytes.length;
    this.size = sequential ? Math.min(this.size * 2, LARGE_WINDOW) : SMALL_WINDOW;
    const ahead = this.ahead;
    this.ahead = undefined;
    const w = ahead !== undefined && ahead.start === pos ? await ahead.window : await this.fetch(pos, this.size);
    const next = pos + w.bytes.length;
    // A short window is the file's end; none is read past `end` either.
    if (this.size === LARGE_WINDOW && w.bytes.length === LARGE_WINDOW && this.base + next < this.end) {
      const window = this.fetch(next, LARGE_WINDOW);
      // A read-ahead nobody awaits must not become an unhandled rejection; a reader that needs it sees the error.
      window.catch(() => {});
      this.ahead = { start: next, window };
    }
    return w;
  }

  private async fetch(pos: number, size: number): Promise<Window> {
    const len = Math.max(0, Math.min(size, this.end - this.base - pos));
    // A fresh buffer each time: views handed out earlier stay intact. Not zero-filled:
    // the read overwrites it, and only the bytes read are ever exposed.
    const buf = new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.file.read(buf, got, len - got, this.base + pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { start: pos, bytes: buf.subarray(0, got) };
  }
}

/** Reads bytes already in memory. */
export class BytesReader implements ByteReader {
  position = 0;
  constructor(private readonly bytes: Uint8Array) {}

  readNow(n: number): Uint8Array | null {
    if (this.position + n > this.bytes.length) return null;
    this.position += n;
    return this.bytes.subarray(this.position - n, this.position);
  }

  async read(n: number): Promise<Uint8Array> {
    const left = this.bytes.length - this.position;
    if (left < n) throw new UnexpectedEofError(this.bytes.length, n - Math.max(0, left));
    const out = this.bytes.subarray(this.position, this.position + n);
    this.position += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    this.position += n;
  }
}
