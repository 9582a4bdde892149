// FastCDC 2020 content-defined chunking with cut points identical to the Rust `fastcdc`
// crate's `v2020` module (FastCDC::cut / StreamCDC), whole-buffer and streaming.

import { InvalidInputError } from '../../verify/index.js';
import { GEAR, GEAR_LS } from './fastcdc-gear.js';
import { makeWasmScanner, type WasmMasks } from './fastcdc-wasm.js';

// The crate's accepted ranges (v2020 MINIMUM_MIN .. MAXIMUM_MAX).
export const MINIMUM_MIN = 64;
export const MINIMUM_MAX = 1_048_576;
export const AVERAGE_MIN = 256;
export const AVERAGE_MAX = 4_194_304;
export const MAXIMUM_MIN = 1024;
export const MAXIMUM_MAX = 16_777_216;

export interface ChunkerOptions {
  min: number;
  avg: number;
  max: number;
  /** The crate's Normalization Level0..Level3; default 1 as in the crate. */
  normalization?: 0 | 1 | 2 | 3;
}

export const DEFAULT_CHUNKER: ChunkerOptions = { min: 16384, avg: 65536, max: 262144, normalization: 1 };

export interface Chunk {
  /** Absolute offset of the chunk in the input. */
  offset: number;
  length: number;
  /** The chunk's bytes; a view into the caller's piece whenever the chunk lies within one. */
  data: Uint8Array;
}

// Indexed by round(log2(avg)) +/- normalization; entries 5 and 25 exist only for level 3.
const MASKS: readonly bigint[] = [
  0n, 0n, 0n, 0n, 0n,
  0x0000000001804110n, 0x0000000001803110n, 0x0000000018035100n, 0x0000001800035300n,
  0x0000019000353000n, 0x0000590003530000n, 0x0000d90003530000n, 0x0000d90103530000n,
  0x0000d90303530000n, 0x0000d90313530000n, 0x0000d90f03530000n, 0x0000d90303537000n,
  0x0000d90703537000n, 0x0000d90707537000n, 0x0000d91707537000n, 0x0000d91747537000n,
  0x0000d91767537000n, 0x0000d93767537000n, 0x0000d93777537000n, 0x0000d93777577000n,
  0x0000db3777577000n,
];

// The crate's hash is a u64, but no mask reaches above bit 48 and carries only move upward,
// so bits 0..55 of the hash are exact if kept as a 24-bit low part plus a wrapping int32 for
// bits 24..55. Every intermediate then stays a small integer, which V8 keeps off the heap.
const LOW_BITS = 24;
const LOW_MASK = 0xffffff;
const lo24 = (v: bigint): number => Number(v & 0xffffffn);
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 24n));

// One table, four int32 per byte value: GEAR_LS low/high, then GEAR low/high. Interleaved
// so each byte costs one cache line and one bounds check base.
const TABLE = new Int32Array(1024);
for (let b = 0; b < 256; b++) {
  TABLE[4 * b] = lo24(GEAR_LS[b]);
  TABLE[4 * b + 1] = hi32(GEAR_LS[b]);
  TABLE[4 * b + 2] = lo24(GEAR[b]);
  TABLE[4 * b + 3] = hi32(GEAR[b]);
}

/** Everything the cut search needs, derived once from ChunkerOptions. */
export interface CutParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  readonly maskSLo: number;
  readonly maskSHi: number;
  readonly maskLLo: number;
  readonly maskLHi: number;
  readonly maskSLsLo: number;
  readonly maskSLsHi: number;
  readonly maskLLsLo: number;
  readonly maskLLsHi: number;
  /** The same masks as u64, for the wasm scan. */
  readonly wasm: WasmMasks;
}

function checkSize(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new InvalidInputError(`chunker ${name} must be an integer in ${lo}..${hi}`, v);
  }
  return v;
}

/** Validates options against the crate's bounds and derives the masks as the crate does. */
export function cutParams(opts: ChunkerOptions): CutParams {
  const min = checkSize('min', opts.min, MINIMUM_MIN, MINIMUM_MAX);
  const avg = checkSize('avg', opts.avg, AVERAGE_MIN, AVERAGE_MAX);
  const max = checkSize('max', opts.max, MAXIMUM_MIN, MAXIMUM_MAX);
  const level = opts.normalization ?? 1;
  if (level !== 0 && level !== 1 && level !== 2 && level !== 3) {
    throw new InvalidInputError('chunker normalization must be 0, 1, 2 or 3', level);
  }
  // The crate only checks each bound alone. With min > max its whole-buffer and streaming
  // chunkers disagree (and chunks can exceed max); with avg > max its cut() can index past
  // the window. Demanding order keeps both views identical and every chunk <= max.
  if (min > avg || avg > max) {
    throw new InvalidInputError('chunker sizes must satisfy min <= avg <= max', { min, avg, max });
  }
  // Rounded, not floored, log2: the crate went back to this in 4.0.1 and it picks the mask.
  const bits = Math.round(Math.log2(avg));
  const s = MASKS[bits + level];
  const l = MASKS[bits - level];
  const sLs = s << 1n;
  const lLs = l << 1n;
  return {
    min, avg, max,
    maskSLo: lo24(s), maskSHi: hi32(s),
    maskLLo: lo24(l), maskLHi: hi32(l),
    maskSLsLo: lo24(sLs), maskSLsHi: hi32(sLs),
    maskLLsLo: lo24(lLs), maskLLsHi: hi32(lLs),
    wasm: { sLs, s, lLs, l },
  };
}

/** Gear hash progress through one chunk, so a streaming caller never rescans a byte. */
interface ScanState {
  /** Next byte pair to hash: bytes 2*index and 2*index+1 after the chunk start. */
  index: number;
  /**
   * The hash so far, in the form of the scan in use (one per process): bits 0..23 and
   * 24..55 for the JavaScript loop, bits 0..31 and 32..63 for the wasm one.
   */
  lo: number;
  hi: number;
}

/** The wasm scan where WebAssembly runs; the JavaScript loop below otherwise. */
const WASM = makeWasmScanner();

const freshState = (p: CutParams): ScanState => ({ index: p.min >>> 1, lo: 0, hi: 0 });

/**
 * The crate's two-bytes-per-step loop over pairs [st.index, limit) of the chunk starting
 * at `base`: the stricter mask_s before avg/2 pairs, mask_l after. Returns the cut
 * (length of the chunk) or -1 with `st` advanced to `limit`.
 */
function scan(buf: Uint8Array, base: number, limit: number, p: CutParams, st: ScanState): number {
  if (WASM) {
    const from = st.index;
    if (limit <= from) return -1;
    const mid = Math.min(p.avg >>> 1, limit);
    const n1 = Math.max(0, mid - from);
    const r = WASM.scan(buf, base + 2 * from, n1, limit - from - n1, st, p.wasm);
    if (r >= 0) return 2 * from + r;
    st.index = limit;
    return -1;
  }
  return scanJs(buf, base, limit, p, st);
}

function scanJs(buf: Uint8Array, base: number, limit: number, p: CutParams, st: ScanState): number {
  const T = TABLE;
  let lo = st.lo;
  let hi = st.hi;
  let a = base + 2 * st.index;
  let v = 0;
  let t = 0;
  // Testing the high half first: it holds most mask bits, so the second test rarely runs.
  const end1 = base + 2 * Math.min(p.avg >>> 1, limit);
  const sLsLo = p.maskSLsLo, sLsHi = p.maskSLsHi, sLo = p.maskSLo, sHi = p.maskSHi;
  while (a < end1) {
    v = buf[a] << 2;
    t = (lo << 2) + T[v];
    hi = ((hi << 2) + T[v + 1] + (t >>> LOW_BITS)) | 0;
    lo = t & LOW_MASK;
    if ((hi & sLsHi) === 0 && (lo & sLsLo) === 0) return a - base;
    v = buf[a + 1] << 2;
    t = lo + T[v + 2];
    hi = (hi + T[v + 3] + (t >>> LOW_BITS)) | 0;
    lo = t & LOW_MASK;
    if ((hi & sHi) === 0 && (lo & sLo) === 0) return a + 1 - base;
    a += 2;
  }
  const end2 = base + 2 * limit;
  const lLsLo = p.maskLLsLo, lLsHi = p.maskLLsHi, lLo = p.maskLLo, lHi = p.maskLHi;
  while (a < end2) {
    v = buf[a] << 2;
    t = (lo << 2) + T[v];
    hi = ((hi << 2) + T[v + 1] + (t >>> LOW_BITS)) | 0;
    lo = t & LOW_MASK;
    if ((hi & lLsHi) === 0 && (lo & lLsLo) === 0) return a - base;
    v = buf[a + 1] << 2;
    t = lo + T[v + 2];
    hi = (hi + T[v + 3] + (t >>> LOW_BITS)) | 0;
    lo = t & LOW_MASK;
    if ((hi & lHi) === 0 && (lo & lLo) === 0) return a + 1 - base;
    a += 2;
  }
  st.index = Math.max(st.index, limit);
  st.lo = lo;
  st.hi = hi;
  return -1;
}

/**
 * The end of the chunk that starts at `start`, given that the input ends at `end`: the
 * crate's `cut_gear` (without its hash). At most `max` after start; if `end - start <= min`
 * the rest is one chunk.
 */
export function findCut(buf: Uint8Array, start: number, end: number, p: CutParams): number {
  let remaining = end - start;
  if (remaining <= p.min) return end;
  if (remaining > p.max) remaining = p.max;
  const cut = scan(buf, start, remaining >>> 1, p, freshState(p));
  return start + (cut < 0 ? remaining : cut);
}

/** Chunks a whole buffer at once; each chunk's data is a view into `buf`. */
export function chunkBuffer(buf: Uint8Array, opts: ChunkerOptions = DEFAULT_CHUNKER): Chunk[] {
  const p = cutParams(opts);
  const out: Chunk[] = [];
  for (let start = 0; start < buf.length; ) {
    const end = findCut(buf, start, buf.length, p);
    out.push({ offset: start, length: end - start, data: buf.subarray(start, end) });
    start = end;
  }
  return out;
}

/**
 * Streaming chunker with the crate's StreamCDC boundaries for any split of the input into
 * pieces. The hash state persists across pieces, so each byte is hashed once. Chunks lying
 * within one piece are views into it (do not reuse a piece's memory after pushing it); only
 * a chunk that spans pieces is gathered into a `max`-byte carry buffer.
 */
export class FastCdcChunker {
  readonly #p: CutParams;
  #st: ScanState;
  /** Absolute offset of the chunk in progress. */
  #offset = 0;
  // Carry buffer: bytes [start, end) are the chunk in progress when it began in an earlier
  // piece. Emitted chunks may be views of [.., start), so it is only ever appended to and
  // is replaced, never rewound, when full.
  #carry = new Uint8Array(0);
  #start = 0;
  #end = 0;

  constructor(opts: ChunkerOptions = DEFAULT_CHUNKER) {
    this.#p = cutParams(opts);
    this.#st = freshState(this.#p);
  }

  push(piece: Uint8Array): Chunk[] {
    const out: Chunk[] = [];
    const n = piece.length;
    const max = this.#p.max;
    let pos = 0;
    // How many of the carried bytes, counted back from #end, are copies of this piece.
    let fromPiece = 0;
    for (;;) {
      if (this.#end > this.#start) {
        // Runs even once the piece is used up: bytes left over after a cut still need a scan.
        const take = Math.min(max - (this.#end - this.#start), n - pos);
        this.#reserve(take);
        this.#carry.set(piece.subarray(pos, pos + take), this.#end);
        this.#end += take;
        pos += take;
        fromPiece += take;
        const cut = this.#advance(this.#carry, this.#start, this.#end - this.#start);
        if (cut < 0) break;
        out.push(this.#emit(this.#carry, this.#start, cut));
        this.#start += cut;
        const left = this.#end - this.#start;
        fromPiece = Math.min(fromPiece, left);
        if (left === fromPiece) {
          // The rest is all this piece's: drop the copies and go on with views of it.
          pos -= left;
          this.#end = this.#start;
        }
      } else {
        if (pos === n) break;
        const cut = this.#advance(piece, pos, n - pos);
        if (cut < 0) {
          this.#reserve(n - pos);
          this.#carry.set(piece.subarray(pos), this.#end);
          this.#end += n - pos;
          break;
        }
        out.push(this.#emit(piece, pos, cut));
        pos += cut;
      }
    }
    return out;
  }

  /** The input has ended: whatever is pending is the last chunk (it may be below min). The chunker is then spent. */
  finish(): Chunk[] {
    if (this.#end === this.#start) return [];
    const last = this.#emit(this.#carry, this.#start, this.#end - this.#start);
    this.#carry = new Uint8Array(0);
    this.#start = this.#end = 0;
    return [last];
  }

  /**
   * Continues the search in the chunk in progress, `avail` bytes of which sit contiguously
   * at `buf[start..]`. Returns its length if the cut is now known, else -1. A cut found
   * before `avail` is final whatever follows, since later bytes only ever extend the scan;
   * with fewer than `max` bytes and no cut yet, only the end of input can settle it.
   */
  #advance(buf: Uint8Array, start: number, avail: number): number {
    const p = this.#p;
    let cut: number;
    if (avail >= p.max) {
      cut = scan(buf, start, p.max >>> 1, p, this.#st);
      if (cut < 0) cut = p.max;
    } else {
      if (avail <= p.min) return -1;
      cut = scan(buf, start, avail >>> 1, p, this.#st);
      if (cut < 0) return -1;
    }
    this.#st = freshState(p);
    return cut;
  }

  #emit(buf: Uint8Array, start: number, length: number): Chunk {
    const chunk = { offset: this.#offset, length, data: buf.subarray(start, start + length) };
    this.#offset += length;
    return chunk;
  }

  /** Room for `extra` more carried bytes; pending + extra never exceeds max. */
  #reserve(extra: number): void {
    if (this.#end + extra <= this.#carry.length) return;
    const next = new Uint8Array(this.#p.max);
    next.set(this.#carry.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#carry = next;
  }
}

/** Chunks an async byte stream (e.g. a fs.ReadStream), yielding chunks as their cuts are found. */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  opts: ChunkerOptions = DEFAULT_CHUNKER,
): AsyncGenerator<Chunk> {
  const chunker = new FastCdcChunker(opts);
  for await (const piece of source) yield* chunker.push(piece);
  yield* chunker.finish();
}
