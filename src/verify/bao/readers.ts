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

const READ_AHEAD = 1 << 20;

/** Reads an open file from a position onward, a megabyte at a time; skipping is free. */
export class FileReader implements ByteReader {
  private buf = new Uint8Array(0);
  private bufPos = 0;
  position: number;

  constructor(private readonly file: FileHandle, private readonly base = 0) {
    this.position = 0;
  }

  async read(n: number): Promise<Uint8Array> {
    if (this.buf.length - this.bufPos < n) {
      // A fresh buffer each time: views handed out earlier stay intact.
      const want = Math.max(n, READ_AHEAD);
      const buf = new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await this.file.read(buf, got, want - got, this.base + this.position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < n) throw new UnexpectedEofError(this.position + got, n - got);
      this.buf = buf.subarray(0, got);
      this.bufPos = 0;
    }
    const out = this.buf.subarray(this.bufPos, this.bufPos + n);
    this.bufPos += n;
    this.position += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    this.position += n;
    this.bufPos += n;
    if (this.bufPos > this.buf.length) {
      this.buf = new Uint8Array(0);
      this.bufPos = 0;
    }
  }
}

/** Reads bytes already in memory. */
export class BytesReader implements ByteReader {
  position = 0;
  constructor(private readonly bytes: Uint8Array) {}

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
