// The plain TypeScript kernel: one compression at a time. Used where WebAssembly
// SIMD is missing and as the reference the SIMD kernel is checked against.

import { compress } from './compress.js';
import { BLOCK_LEN, CHUNK_END, CHUNK_LEN, CHUNK_START, PARENT } from './constants.js';
import type { Blake3Kernel } from './kernel.js';

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export class ScalarKernel implements Blake3Kernel {
  readonly name = 'scalar';
  private readonly chunkWords = new Uint32Array(CHUNK_LEN / 4);
  private readonly chunkBytes = new Uint8Array(this.chunkWords.buffer);
  private readonly cv = new Uint32Array(8);

  constructor() {
    if (!LITTLE_ENDIAN) throw new Error('castor needs a little-endian platform');
  }

  hashChunks(input: Uint8Array, counter: number, key: Uint32Array, flags: number, out: Uint32Array, outOff: number): void {
    if (input.length % CHUNK_LEN !== 0) throw new RangeError(`input length ${input.length} is not a multiple of ${CHUNK_LEN}`);
    const n = input.length / CHUNK_LEN;
    const words = this.chunkWords;
    const cv = this.cv;
    for (let c = 0; c < n; c++) {
      this.chunkBytes.set(input.subarray(c * CHUNK_LEN, (c + 1) * CHUNK_LEN));
      cv.set(key);
      for (let b = 0; b < 16; b++) {
        const f = flags | (b === 0 ? CHUNK_START : 0) | (b === 15 ? CHUNK_END : 0);
        compress(cv, 0, words, b * 16, counter + c, BLOCK_LEN, f, cv, 0);
      }
      out.set(cv, outOff + c * 8);
    }
  }

  hashParents(cvs: Uint32Array, inOff: number, n: number, key: Uint32Array, flags: number, out: Uint32Array, outOff: number): void {
    const block = new Uint32Array(16);
    for (let i = 0; i < n; i++) {
      block.set(cvs.subarray(inOff + 16 * i, inOff + 16 * i + 16));
      compress(key, 0, block, 0, 0, BLOCK_LEN, flags | PARENT, out, outOff + 8 * i);
    }
  }

  scratch(): null {
    return null;
  }
}
