// Whole subtrees at once: runs of chunks hashed by the kernel in one call, then
// reduced level by level. Pairing neighbours and carrying an odd last one up a
// level builds exactly BLAKE3's left-balanced tree.

import { CHUNK_LEN } from './constants.js';
import type { Blake3Kernel } from './kernel.js';
import type { Mode } from './mode.js';
import { chunkOutput, Output, parentOutput } from './output.js';

let scratchCvs = new Uint32Array(8 * 1024);
function cvBuffer(words: number): Uint32Array {
  if (scratchCvs.length < words) scratchCvs = new Uint32Array(Math.max(words, scratchCvs.length * 2));
  return scratchCvs;
}

/**
 * Chaining values of consecutive aligned units of 2^unitLog chunks each. `data` is
 * a whole number of units, the first starting at chunk `firstChunk` (a multiple of
 * the unit size). Writes 8 words per unit to out[outOff...].
 */
export function hashUnits(
  kernel: Blake3Kernel, data: Uint8Array, firstChunk: number, unitLog: number, mode: Mode,
  out: Uint32Array, outOff: number,
): void {
  const chunks = data.length / CHUNK_LEN;
  const units = chunks >>> unitLog;
  if (!Number.isInteger(chunks) || units << unitLog !== chunks) {
    throw new RangeError(`${data.length} bytes is not a whole number of ${CHUNK_LEN << unitLog}-byte units`);
  }
  if (unitLog === 0) {
    kernel.hashChunks(data, firstChunk, mode.key, mode.flags, out, outOff);
    return;
  }
  const cvs = cvBuffer(chunks * 8);
  kernel.hashChunks(data, firstChunk, mode.key, mode.flags, cvs, 0);
  for (let l = 1; l <= unitLog; l++) kernel.hashParents(cvs, 0, chunks >>> l, mode.key, mode.flags, cvs, 0);
  out.set(cvs.subarray(0, units * 8), outOff);
}

/**
 * Reduces m >= 2 chaining values in cvs (8 words each) in place until two are
 * left, and returns the output of their parent: the root of that tree.
 * When `levels` is given, a copy of every level (the input first) is appended.
 */
export function reduceToOutput(kernel: Blake3Kernel, cvs: Uint32Array, m: number, mode: Mode, levels?: Uint32Array[]): Output {
  if (m < 2) throw new RangeError('a tree of one node has no parent');
  for (;;) {
    if (levels) levels.push(cvs.slice(0, m * 8));
    if (m === 2) return parentOutput(cvs.subarray(0, 8), cvs.subarray(8, 16), mode);
    const pairs = m >>> 1;
    kernel.hashParents(cvs, 0, pairs, mode.key, mode.flags, cvs, 0);
    if (m & 1) cvs.copyWithin(pairs * 8, (m - 1) * 8, m * 8);
    m = pairs + (m & 1);
  }
}

/**
 * The output of the subtree over `data` (any length, one chunk or more) whose first
 * chunk has counter `firstChunk`. Its chaining value is the non-root value of that
 * subtree; its root bytes are the hash when the subtree is the whole input.
 */
export function subtreeOutput(kernel: Blake3Kernel, data: Uint8Array, firstChunk: number, mode: Mode): Output {
  if (data.length <= CHUNK_LEN) return chunkOutput(data, firstChunk, mode);
  const n = Math.ceil(data.length / CHUNK_LEN);
  const cvs = new Uint32Array(n * 8);
  kernel.hashChunks(data.subarray(0, (n - 1) * CHUNK_LEN), firstChunk, mode.key, mode.flags, cvs, 0);
  cvs.set(chunkOutput(data.subarray((n - 1) * CHUNK_LEN), firstChunk + n - 1, mode).chainingValue(), (n - 1) * 8);
  return reduceToOutput(kernel, cvs, n, mode);
}
