// A node's last compression, held back until we know whether it is the root:
// as a non-root it yields a chaining value, as the root it yields any amount of output.

import { compress } from './compress.js';
import { BLOCK_LEN, CHUNK_END, CHUNK_LEN, CHUNK_START, PARENT, ROOT } from './constants.js';
import type { Mode } from './mode.js';
import { bytesOf } from './mode.js';

export class Output {
  constructor(
    readonly cv: Uint32Array,
    readonly block: Uint32Array,
    readonly counter: number,
    readonly blockLen: number,
    readonly flags: number,
  ) {}

  /** The non-root chaining value (8 words). */
  chainingValue(): Uint32Array {
    const out = new Uint32Array(8);
    compress(this.cv, 0, this.block, 0, this.counter, this.blockLen, this.flags, out, 0);
    return out;
  }

  /** `length` bytes of root output (BLAKE3's extendable output). */
  rootBytes(length = 32): Uint8Array {
    const out = new Uint8Array(length);
    const words = new Uint32Array(16);
    for (let block = 0, pos = 0; pos < length; block++, pos += 64) {
      compress(this.cv, 0, this.block, 0, block, this.blockLen, this.flags | ROOT, words, 0, true);
      const bytes = bytesOf(words);
      out.set(bytes.subarray(0, Math.min(64, length - pos)), pos);
    }
    return out;
  }
}

const blockWords = new Uint32Array(16);
const blockBytes = new Uint8Array(blockWords.buffer);

/** The output of one chunk of 0 to 1024 bytes with chunk counter `counter`. */
export function chunkOutput(data: Uint8Array, counter: number, mode: Mode): Output {
  if (data.length > CHUNK_LEN) throw new RangeError(`chunk of ${data.length} bytes`);
  const cv = Uint32Array.from(mode.key);
  const blocks = Math.max(1, Math.ceil(data.length / BLOCK_LEN));
  for (let b = 0; b < blocks - 1; b++) {
    blockBytes.set(data.subarray(b * BLOCK_LEN, (b + 1) * BLOCK_LEN));
    compress(cv, 0, blockWords, 0, counter, BLOCK_LEN, mode.flags | (b === 0 ? CHUNK_START : 0), cv, 0);
  }
  const last = data.subarray((blocks - 1) * BLOCK_LEN);
  const block = new Uint32Array(16);
  new Uint8Array(block.buffer).set(last);
  const flags = mode.flags | CHUNK_END | (blocks === 1 ? CHUNK_START : 0);
  return new Output(cv, block, counter, last.length, flags);
}

/** The output of a parent node from its children's chaining values. */
export function parentOutput(left: Uint32Array, right: Uint32Array, mode: Mode): Output {
  const block = new Uint32Array(16);
  block.set(left.subarray(0, 8), 0);
  block.set(right.subarray(0, 8), 8);
  return new Output(Uint32Array.from(mode.key), block, 0, BLOCK_LEN, mode.flags | PARENT);
}
