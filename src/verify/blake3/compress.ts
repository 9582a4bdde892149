// The BLAKE3 compression function in plain TypeScript: the fallback kernel where
// WebAssembly SIMD is missing, and the reference the SIMD kernel is tested against.

import { IV, MSG_SCHEDULE } from './constants.js';

const S = MSG_SCHEDULE.map((r) => Int32Array.from(r));
const st = new Uint32Array(16);
const m = new Uint32Array(16);

function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  let va = st[a]!, vb = st[b]!, vc = st[c]!, vd = st[d]!;
  va = (va + vb + x) | 0;
  vd ^= va; vd = (vd >>> 16) | (vd << 16);
  vc = (vc + vd) | 0;
  vb ^= vc; vb = (vb >>> 12) | (vb << 20);
  va = (va + vb + y) | 0;
  vd ^= va; vd = (vd >>> 8) | (vd << 24);
  vc = (vc + vd) | 0;
  vb ^= vc; vb = (vb >>> 7) | (vb << 25);
  st[a] = va; st[b] = vb; st[c] = vc; st[d] = vd;
}

/**
 * Compresses one 64-byte block (16 little-endian words at block[blockOff]) into
 * the 8-word chaining value cv[cvOff]. Writes 8 words to out[outOff], or 16 when
 * `xof` is set (the extended output used for root output blocks).
 * `counter` may be any non-negative integer below 2^53.
 */
export function compress(
  cv: Uint32Array, cvOff: number,
  block: Uint32Array, blockOff: number,
  counter: number, blockLen: number, flags: number,
  out: Uint32Array, outOff: number, xof = false,
): void {
  for (let i = 0; i < 16; i++) m[i] = block[blockOff + i]!;
  for (let i = 0; i < 8; i++) st[i] = cv[cvOff + i]!;
  st[8] = IV[0]!; st[9] = IV[1]!; st[10] = IV[2]!; st[11] = IV[3]!;
  st[12] = counter >>> 0;
  st[13] = Math.floor(counter / 0x100000000) >>> 0;
  st[14] = blockLen;
  st[15] = flags;
  for (let r = 0; r < 7; r++) {
    const s = S[r]!;
    g(0, 4, 8, 12, m[s[0]!]!, m[s[1]!]!);
    g(1, 5, 9, 13, m[s[2]!]!, m[s[3]!]!);
    g(2, 6, 10, 14, m[s[4]!]!, m[s[5]!]!);
    g(3, 7, 11, 15, m[s[6]!]!, m[s[7]!]!);
    g(0, 5, 10, 15, m[s[8]!]!, m[s[9]!]!);
    g(1, 6, 11, 12, m[s[10]!]!, m[s[11]!]!);
    g(2, 7, 8, 13, m[s[12]!]!, m[s[13]!]!);
    g(3, 4, 9, 14, m[s[14]!]!, m[s[15]!]!);
  }
  if (xof) {
    for (let i = 0; i < 8; i++) out[outOff + 8 + i] = st[i + 8]! ^ cv[cvOff + i]!;
  }
  for (let i = 0; i < 8; i++) out[outOff + i] = st[i]! ^ st[i + 8]!;
}
