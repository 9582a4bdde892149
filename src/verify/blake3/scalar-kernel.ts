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
    const cv = this.cv;
    // 4-byte aligned input (the usual case) is read in place through a word view;
    // otherwise each chunk is copied into chunkWords first.
    const aligned = input.byteOffset % 4 === 0;
    const words = aligned ? new Uint32Array(input.buffer, input.byteOffset, input.length / 4) : this.chunkWords;
    const chunkWords = CHUNK_LEN / 4;
    for (let c = 0; c < n; c++) {
      let base = c * chunkWords;
      if (!aligned) {
        this.chunkBytes.set(input.subarray(c * CHUNK_LEN, (c + 1) * CHUNK_LEN));
        base = 0;
      }
      // The first block starts from the key, the last writes straight to out.
      compress(key, 0, words, base, counter + c, BLOCK_LEN, flags | CHUNK_START, cv, 0);
      for (let b = 1; b < 15; b++) {
        compress(cv, 0, words, base + b * 16, counter + c, BLOCK_LEN, flags, cv, 0);
      }
      compress(cv, 0, words, base + 15 * 16, counter + c, BLOCK_LEN, flags | CHUNK_END, out, outOff + c * 8);
    }
  }

  hashParents(cvs: Uint32Array, inOff: number, n: number, key: Uint32Array, flags: number, out: Uint32Array, outOff: number): void {
    // compress reads its whole block before writing, so the two child chaining
    // values are read straight from cvs (no copy), even when out is cvs in place.
    for (let i = 0; i < n; i++) {
      compress(key, 0, cvs, inOff + 16 * i, 0, BLOCK_LEN, flags | PARENT, out, outOff + 8 * i);
    }
  }

  scratch(): null {
    return null;
  }
}
