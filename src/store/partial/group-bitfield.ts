// Which groups of a blob are held: one bit per group, bit i = group i, least significant
// bit of each byte first (the layout of the stat protocol's bitfield and of a partial's
// bitfield file), with a running count.

import type { ByteRange } from '../../verify/index.js';

export class GroupBitfield {
  #count = 0;

  /** Takes `bits` as is (not copied); bits past `groups` must be zero. */
  constructor(readonly groups: number, readonly bits: Uint8Array = new Uint8Array(Math.ceil(groups / 8))) {
    this.#count = countBits(bits);
  }

  get count(): number {
    return this.#count;
  }

  has(i: number): boolean {
    return ((this.bits[i >>> 3]! >>> (i & 7)) & 1) === 1;
  }

  /** Sets bit i; false if it was set already. */
  set(i: number): boolean {
    if (this.has(i)) return false;
    this.bits[i >>> 3] |= 1 << (i & 7);
    this.#count++;
    return true;
  }

  /** Clears bit i; false if it was clear already. */
  clear(i: number): boolean {
    if (!this.has(i)) return false;
    this.bits[i >>> 3] &= ~(1 << (i & 7));
    this.#count--;
    return true;
  }

  /** Replaces every bit with those of `bits` (same length). */
  load(bits: Uint8Array): void {
    this.bits.set(bits);
    this.#count = countBits(this.bits);
  }

  /** Whether every group in [first, end) is set. */
  hasAll(first: number, end: number): boolean {
    for (let i = first; i < end; i++) if (!this.has(i)) return false;
    return true;
  }

  /** Byte ranges of the clear groups of a blob of `size` bytes in groups of `groupBytes`, neighbours merged. */
  clearRanges(groupBytes: number, size: number): ByteRange[] {
    const out: ByteRange[] = [];
    for (let i = 0; i < this.groups; i++) {
      if (this.has(i)) continue;
      const start = i * groupBytes;
      const end = Math.min(size, start + groupBytes);
      const last = out[out.length - 1];
      if (last && last.end === start) out[out.length - 1] = { start: last.start, end };
      else out.push({ start, end });
    }
    return out;
  }
}

function countBits(bits: Uint8Array): number {
  let n = 0;
  for (let b of bits) {
    for (; b !== 0; b &= b - 1) n++;
  }
  return n;
}
