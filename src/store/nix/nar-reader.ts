// A strict, streaming NAR parser: bytes in chunks of any size become events, with file
// content passed on in pieces as it arrives and every deviation from the one canonical
// encoding refused with the byte offset where it starts.

import { MAX_NAME_LENGTH, MAX_TARGET_LENGTH, compareNames } from '../castore/index.js';
import { NarFormatError, type NarFormatReason } from './nar-errors.js';

/**
 * What a NAR holds, in order. A `directory` is followed by its entries, each an `entry`
 * (the name) and then that entry's node, and then `end`. A `file` is followed by `data`
 * pieces whose lengths sum to `size` (none for an empty file). The root node comes first
 * and has no `entry`.
 */
export type NarEvent =
  | { readonly kind: 'directory' }
  | { readonly kind: 'entry'; readonly name: Uint8Array }
  | { readonly kind: 'end' }
  | { readonly kind: 'file'; readonly executable: boolean; readonly size: number }
  /** A view of an input chunk, not a copy: valid as long as the producer leaves that chunk alone. */
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  | { readonly kind: 'symlink'; readonly target: Uint8Array };

/**
 * Directories nested deeper than this are refused: each open level holds state here and
 * in every consumer, and no path Linux can name is this deep (PATH_MAX is 4096 bytes, so
 * at most 2048 components).
 */
export const MAX_NAR_DEPTH = 2048;

/** The longest string the grammar has in a tag's place ("nix-archive-1", 13 bytes), rounded up. */
const MAX_TAG_LENGTH = 16;

const enc = new TextEncoder();
const tag = (s: string): Uint8Array => enc.encode(s);
const MAGIC = tag('nix-archive-1');
const OPEN = tag('(');
const CLOSE = tag(')');
const TYPE = tag('type');
const REGULAR = tag('regular');
const SYMLINK = tag('symlink');
const DIRECTORY = tag('directory');
const EXECUTABLE = tag('executable');
const CONTENTS = tag('contents');
const TARGET = tag('target');
const ENTRY = tag('entry');
const NAME = tag('name');
const NODE = tag('node');

/** Lengths are u64; a JS number holds them exactly below 2^53, far beyond any real file. */
const MAX_LENGTH_HIGH_WORD = 0x1f_ffff;

/**
 * Parses `input` as one NAR. Pulls input only as events are consumed (backpressure passes
 * through), keeps at most one small string besides the current chunk, and throws
 * NarFormatError at the first byte that breaks the format, after the events of everything
 * before it. A consumer must treat what it built from the events as void until the
 * iteration ends without throwing: only then is the NAR whole, including its end.
 */
export async function* readNar(input: AsyncIterable<Uint8Array>): AsyncGenerator<NarEvent, void, undefined> {
  const p = new Parser(new ByteSource(input[Symbol.asyncIterator]()));
  try {
    yield* p.events();
  } finally {
    await p.src.close();
  }
}

/** Per open directory: the previous entry's name, which the next must sort after. */
interface Frame {
  previous: Uint8Array | undefined;
}

class Parser {
  constructor(readonly src: ByteSource) {}

  async *events(): AsyncGenerator<NarEvent, void, undefined> {
    await this.expect(MAGIC, 'the magic "nix-archive-1"', 'BAD_MAGIC');
    const open: Frame[] = [];
    // Iterative, not recursive: a delegating generator per level would pass every event
    // through each level above it, and the depth is the input's to choose.
    for (;;) {
      // A node starts here: the root, or the node of the entry just read.
      await this.expect(OPEN, '"(" opening a node');
      await this.expect(TYPE, '"type"');
      const typeAt = this.src.offset;
      const type = await this.oneOf([REGULAR, SYMLINK, DIRECTORY], 'a node type (regular, symlink, directory)', 'UNKNOWN_TYPE');
      let nodeDone = true;
      if (type === 0) {
        yield* this.regular();
      } else if (type === 1) {
        yield { kind: 'symlink', target: await this.symlink() };
      } else {
        if (open.length >= MAX_NAR_DEPTH) throw new NarFormatError('TOO_DEEP', typeAt, `directories nested deeper than ${MAX_NAR_DEPTH}`);
        open.push({ previous: undefined });
        yield { kind: 'directory' };
        nodeDone = false;
      }
      // Close what is complete, until an entry opens (its node is parsed next) or the root ends.
      for (;;) {
        if (nodeDone) {
          if (open.length === 0) {
            if (!(await this.src.atEnd())) throw new NarFormatError('TRAILING_BYTES', this.src.offset, 'bytes after the root node');
            return;
          }
          await this.expect(CLOSE, '")" closing an entry');
        }
        const which = await this.oneOf([ENTRY, CLOSE], '"entry" or ")" closing a directory');
        if (which === 1) {
          open.pop();
          yield { kind: 'end' };
          nodeDone = true;
          continue;
        }
        yield { kind: 'entry', name: await this.entryName(open[open.length - 1]!) };
        break;
      }
    }
  }

  async *regular(): AsyncGenerator<NarEvent, void, undefined> {
    let executable = false;
    if ((await this.oneOf([EXECUTABLE, CONTENTS], '"executable" or "contents"')) === 0) {
      executable = true;
      const at = this.src.offset;
      const marker = await this.string(MAX_TAG_LENGTH, 'the empty string after "executable"', 'UNEXPECTED_TAG');
      if (marker.length !== 0) throw new NarFormatError('UNEXPECTED_TAG', at, `expected the empty string after "executable", got ${show(marker)}`);
      await this.expect(CONTENTS, '"contents"');
    }
    const at = this.src.offset;
    const size = await this.length(at, 'a file size');
    yield { kind: 'file', executable, size };
    for (let left = size; left > 0;) {
      const bytes = await this.src.piece(left, at, 'file contents');
      left -= bytes.length;
      yield { kind: 'data', bytes };
    }
    await this.padding(size, at);
    await this.expect(CLOSE, '")" closing a file');
  }

  async symlink(): Promise<Uint8Array> {
    await this.expect(TARGET, '"target"');
    const at = this.src.offset;
    const target = await this.string(MAX_TARGET_LENGTH, 'a symlink target', 'INVALID_TARGET');
    if (target.length === 0) throw new NarFormatError('INVALID_TARGET', at, 'symlink target is empty');
    if (target.includes(0)) throw new NarFormatError('INVALID_TARGET', at, 'symlink target contains a NUL byte', target.slice());
    await this.expect(CLOSE, '")" closing a symlink');
    // A copy: a view would keep the whole input chunk alive as long as the consumer keeps the target.
    return target.slice();
  }

  async entryName(dir: Frame): Promise<Uint8Array> {
    await this.expect(OPEN, '"(" opening an entry');
    await this.expect(NAME, '"name"');
    const at = this.src.offset;
    const view = await this.string(MAX_NAME_LENGTH, 'an entry name', 'INVALID_NAME');
    const name = view.slice();
    const bad = nameProblem(name);
    if (bad !== undefined) throw new NarFormatError('INVALID_NAME', at, `entry name ${show(name)} ${bad}`, name);
    if (dir.previous !== undefined) {
      const order = compareNames(name, dir.previous);
      if (order < 0) throw new NarFormatError('UNSORTED', at, `entry name ${show(name)} sorts before the previous one, ${show(dir.previous)}`, name);
      if (order === 0) throw new NarFormatError('DUPLICATE_NAME', at, `entry name ${show(name)} appears twice`, name);
    }
    dir.previous = name;
    await this.expect(NODE, '"node"');
    return name;
  }

  /** A u64 length field at `at`, or Infinity from 2^53 on (no file or string is that long). */
  async rawLength(at: number, what: string): Promise<number> {
    const b = await this.src.take(8, at, `the length of ${what}`);
    const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    const hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
    return hi > MAX_LENGTH_HIGH_WORD ? Infinity : hi * 2 ** 32 + lo;
  }

  /** A file's size. */
  async length(at: number, what: string): Promise<number> {
    const n = await this.rawLength(at, what);
    if (n === Infinity) throw new NarFormatError('TOO_LARGE', at, `${what} is 2^53 or more`);
    return n;
  }

  /**
   * A string of at most `max` bytes, padding checked. A longer one is refused as `tooLong`
   * before any of it is read: no string the grammar allows here is that long.
   */
  async string(max: number, what: string, tooLong: NarFormatReason): Promise<Uint8Array> {
    const at = this.src.offset;
    const n = await this.rawLength(at, what);
    if (n > max) throw new NarFormatError(tooLong, at, `expected ${what} of at most ${max} bytes, got a length of ${n === Infinity ? '2^53 or more' : n}`, n);
    const padded = await this.src.take(n + padOf(n), at, what);
    checkPadding(padded, n, at + 8);
    return padded.subarray(0, n);
  }

  async padding(n: number, at: number): Promise<void> {
    const pad = padOf(n);
    if (pad === 0) return;
    checkPadding(await this.src.take(pad, at, 'padding'), 0, at + 8 + n);
  }

  async expect(want: Uint8Array, what: string, reason: NarFormatReason = 'UNEXPECTED_TAG'): Promise<void> {
    await this.oneOf([want], what, reason);
  }

  /** Which of `tags` comes next; anything else is refused as `reason`, at the string's start. */
  async oneOf(tags: readonly Uint8Array[], what: string, reason: NarFormatReason = 'UNEXPECTED_TAG'): Promise<number> {
    const at = this.src.offset;
    const got = await this.string(MAX_TAG_LENGTH, what, reason);
    for (let i = 0; i < tags.length; i++) if (compareNames(got, tags[i]!) === 0) return i;
    throw new NarFormatError(reason, at, `expected ${what}, got ${show(got)}`, got.slice());
  }
}

const padOf = (n: number): number => (8 - (n % 8)) % 8;

/** `bytes` from index `from` on are padding, and `bytes[0]` is at stream offset `at`. */
function checkPadding(bytes: Uint8Array, from: number, at: number): void {
  for (let i = from; i < bytes.length; i++) {
    if (bytes[i] !== 0) throw new NarFormatError('BAD_PADDING', at + i, `padding byte is 0x${bytes[i]!.toString(16).padStart(2, '0')}, not 0`);
  }
}

/** Why castore (and Nix) refuse `name` as a directory entry, or undefined. Length is checked before. */
function nameProblem(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e))) return 'is "." or ".."';
  if (name.includes(0x2f)) return 'contains "/"';
  if (name.includes(0)) return 'contains a NUL byte';
  return undefined;
}

/** A string for messages: printable ASCII as is, anything else as \xNN, cut at 64 bytes. */
function show(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes.subarray(0, 64)) out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return `${out}${bytes.length > 64 ? '...' : ''}"`;
}

const EMPTY = new Uint8Array(0);

/** The input as a cursor: small reads assembled (copied only across chunk boundaries), large ones passed on as views. */
class ByteSource {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  /** Stream offset of #chunk[0]. */
  #base = 0;
  #done = false;

  constructor(it: AsyncIterator<Uint8Array>) {
    this.#it = it;
  }

  /** Bytes consumed so far: the offset of the next byte. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** Moves to the next non-empty chunk; false at the end of the input. */
  async #pull(): Promise<boolean> {
    while (!this.#done) {
      const r = await this.#it.next();
      if (r.done === true) {
        this.#done = true;
        break;
      }
      const c: unknown = r.value;
      if (!(c instanceof Uint8Array)) throw new TypeError(`NAR input chunks must be Uint8Arrays, got ${typeof c}`);
      if (c.length === 0) continue;
      this.#base += this.#chunk.length;
      this.#chunk = c;
      this.#pos = 0;
      return true;
    }
    return false;
  }

  #truncated(at: number, what: string): NarFormatError {
    return new NarFormatError('TRUNCATED', at, `the input ends at byte ${this.offset}, inside ${what} (starting at byte ${at})`);
  }

  /** Exactly `n` bytes: a view when they lie in one chunk, else a copy. For small reads only. */
  async take(n: number, at: number, what: string): Promise<Uint8Array> {
    if (this.#chunk.length - this.#pos >= n) {
      const view = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      return view;
    }
    const out = new Uint8Array(n);
    for (let got = 0; got < n;) {
      if (this.#pos === this.#chunk.length && !(await this.#pull())) throw this.#truncated(at, what);
      const k = Math.min(this.#chunk.length - this.#pos, n - got);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + k), got);
      this.#pos += k;
      got += k;
    }
    return out;
  }

  /** Between 1 and `max` bytes, as a view of the current chunk. */
  async piece(max: number, at: number, what: string): Promise<Uint8Array> {
    if (this.#pos === this.#chunk.length && !(await this.#pull())) throw this.#truncated(at, what);
    const k = Math.min(this.#chunk.length - this.#pos, max);
    const view = this.#chunk.subarray(this.#pos, this.#pos + k);
    this.#pos += k;
    return view;
  }

  async atEnd(): Promise<boolean> {
    return this.#pos === this.#chunk.length && !(await this.#pull());
  }

  /** Lets the producer go (closes a file, cancels a request) when parsing stops early. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#it.return?.();
  }
}
