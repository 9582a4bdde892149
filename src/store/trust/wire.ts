// Canonical protobuf, by hand, for the trust messages: a writer that emits fields in
// order with defaults omitted, and a strict reader that accepts only that form (each
// field once, ascending, minimal varints, no unknown fields), so one value has one encoding.

import { MAX_UINT64 } from '../castore/index.js';

export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;

/** Bytes that are not the canonical encoding of the expected message; `offset` is where reading stopped. */
export class WireError extends Error {
  constructor(readonly detail: string, readonly offset: number) {
    super(`${detail} at byte ${offset}`);
  }
}

export function tagOf(field: number, wire: number): number {
  return (field << 3) | wire;
}

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++; }
  return len;
}

export function uint64Length(n: bigint): number {
  let len = 1;
  while (n >= 0x80n) { n >>= 7n; len++; }
  return len;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Appends canonical fields to a growing buffer. */
export class WireWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(initial = 256) {
    this.#buf = new Uint8Array(initial);
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  varint(n: number): void {
    this.#room(10);
    while (n >= 0x80) { this.#buf[this.#pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.#buf[this.#pos++] = n;
  }

  uint64(n: bigint): void {
    if (n < 0n || n > MAX_UINT64) throw new RangeError(`${n} is not a uint64`);
    this.#room(10);
    while (n >= 0x80n) { this.#buf[this.#pos++] = Number(n & 0x7fn) | 0x80; n >>= 7n; }
    this.#buf[this.#pos++] = Number(n);
  }

  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** A length-delimited field; omitted when empty, as proto3 omits defaults. */
  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.varint(tagOf(field, WIRE_LEN));
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** An embedded message: always written, even when empty (presence matters for messages). */
  messageField(field: number, bytes: Uint8Array): void {
    this.varint(tagOf(field, WIRE_LEN));
    this.varint(bytes.length);
    this.raw(bytes);
  }

  stringField(field: number, text: string): void {
    this.bytesField(field, utf8.encode(text));
  }

  /**
   * Opens an embedded message field: writes its tag and reserves one byte for its length.
   * Write the body, then `end(mark)`. Nothing is allocated per message: a body of 128
   * bytes or more is moved up in place to make room for its longer length.
   */
  begin(field: number): number {
    this.varint(tagOf(field, WIRE_LEN));
    this.#room(1);
    this.#pos++;
    return this.#pos;
  }

  end(mark: number): void {
    const len = this.#pos - mark;
    const extra = varintLength(len) - 1;
    if (extra > 0) {
      this.#room(extra);
      this.#buf.copyWithin(mark + extra, mark, this.#pos);
      this.#pos += extra;
    }
    let at = mark - 1;
    let n = len;
    while (n >= 0x80) { this.#buf[at++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.#buf[at] = n;
  }

  uint64Field(field: number, n: bigint): void {
    if (n === 0n) return;
    this.varint(tagOf(field, WIRE_VARINT));
    this.uint64(n);
  }

  boolField(field: number, b: boolean): void {
    if (!b) return;
    this.varint(tagOf(field, WIRE_VARINT));
    this.varint(1);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

/**
 * Reads the fields of one canonical message in order. `next(field)` answers whether the
 * next field is `field` (consuming the tag if so); anything out of order, repeated where
 * it may not be, or unknown is left for `expectEnd()` to reject.
 */
export class WireReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly limit: number;
  #last = 0;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.limit = end;
  }

  fail(detail: string): never {
    throw new WireError(detail, this.pos);
  }

  varint(): number {
    const b = this.bytes;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.limit) this.fail('truncated varint');
      const byte = b[this.pos++]!;
      n += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) this.fail('non-minimal varint');
        if (!Number.isSafeInteger(n)) this.fail('varint too large');
        return n;
      }
      scale *= 0x80;
    }
    this.fail('varint too large');
  }

  uint64(): bigint {
    const b = this.bytes;
    let n = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.limit) this.fail('truncated varint');
      const byte = b[this.pos++]!;
      n |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        if (byte === 0 && i > 0) this.fail('non-minimal varint');
        if (n > MAX_UINT64) this.fail('varint exceeds uint64');
        return n;
      }
    }
    this.fail('varint exceeds uint64');
  }

  /** True (tag consumed) if the next field is `field` with wire type `wire`. */
  next(field: number, wire: number): boolean {
    if (this.pos >= this.limit) return false;
    const save = this.pos;
    const tag = this.varint();
    if (tag === tagOf(field, wire)) {
      this.#last = field;
      return true;
    }
    this.pos = save;
    return false;
  }

  /** The body of a length-delimited field whose tag was just read. */
  lengthDelimited(): { start: number; end: number } {
    const len = this.varint();
    const start = this.pos;
    if (len > this.limit - start) this.fail('length runs past the end');
    this.pos = start + len;
    return { start, end: start + len };
  }

  readBytes(): Uint8Array {
    const { start, end } = this.lengthDelimited();
    return this.bytes.subarray(start, end);
  }

  /** A non-default bytes field: canonical form never writes an empty one. */
  nonEmptyBytes(): Uint8Array {
    const b = this.readBytes();
    if (b.length === 0) this.fail('empty bytes field written');
    return b;
  }

  readString(): string {
    const b = this.nonEmptyBytes();
    try {
      return strictUtf8.decode(b);
    } catch {
      this.fail('string is not UTF-8');
    }
  }

  nonZeroUint64(): bigint {
    const n = this.uint64();
    if (n === 0n) this.fail('zero written for a uint64 field');
    return n;
  }

  /** Throws unless every byte was read: an unknown, repeated or out-of-order field is left over. */
  expectEnd(): void {
    if (this.pos === this.limit) return;
    const at = this.pos;
    let tag = -1;
    try { tag = this.varint(); } catch { /* reported below */ }
    this.pos = at;
    const field = tag >= 0 ? tag >>> 3 : -1;
    if (field > 0 && field <= this.#last) this.fail(`field ${field} repeated or out of order`);
    this.fail(tag >= 0 ? `unexpected field ${field} (wire type ${tag & 7})` : 'unreadable tag');
  }
}
