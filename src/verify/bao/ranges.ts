// Byte ranges asked of a bao tree, normalised as bao's slice rules say: a count
// of 0 acts as 1, a start at or past the end is moved onto the final group (so
// it gets verified and EOF is proven), overlapping ranges merge.

import { InvalidInputError } from '../errors.js';

export interface ByteRange {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export interface NormalizedRanges {
  /** Ranges that decide which groups travel (sorted, disjoint). */
  readonly select: ByteRange[];
  /** Ranges of content bytes the reader asked for, clipped to the content (sorted, disjoint, maybe empty). */
  readonly output: ByteRange[];
}

export function checkRange(start: number, count: number): ByteRange {
  for (const [name, v] of [['start', start], ['count', count]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidInputError(`${name} ${v} is not a non-negative integer`, v);
  }
  return { start, end: start + count };
}

export function normalizeRanges(ranges: readonly ByteRange[], len: number): NormalizedRanges {
  const select: ByteRange[] = [];
  const output: ByteRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    if (r.end < r.start) throw new InvalidInputError(`range ${r.start}..${r.end} ends before it starts`, r);
    const end = Math.max(r.end, r.start + 1);
    const start = r.start >= len ? Math.max(0, len - 1) : r.start;
    select.push({ start, end });
    const outStart = Math.min(r.start, len);
    const outEnd = Math.min(r.end, len);
    if (outEnd > outStart) output.push({ start: outStart, end: outEnd });
  }
  return { select: merge(select), output: merge(output) };
}

function merge(rs: ByteRange[]): ByteRange[] {
  rs.sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    else out.push(r);
  }
  return out;
}

export const WHOLE: readonly ByteRange[] = [{ start: 0, end: Number.MAX_SAFE_INTEGER }];
