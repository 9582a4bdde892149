// The chaining values a pre-order walk still expects, shared by the decoder and the
// verifying slicer.

import { compress } from '../blake3/index.js';
import { BLOCK_LEN, PARENT } from '../blake3/index.js';
import type { Mode } from '../blake3/index.js';
import { parentOutput } from '../blake3/index.js';
import { equalBytes } from './words.js';

/**
 * Expected chaining values, a stack in pre-order: popping gives the value the next
 * node must hash to. Flat words, no allocation per node.
 */
export class CvStack {
  private words = new Uint32Array(8 * 128);
  private depth = 0;
  push(src: Uint32Array, off: number): void {
    if ((this.depth + 1) * 8 > this.words.length) {
      const next = new Uint32Array(this.words.length * 2);
      next.set(this.words);
      this.words = next;
    }
    this.words.set(src.subarray(off, off + 8), this.depth * 8);
    this.depth++;
  }
  /** A copy of the top value (a batch may hold it until it is hashed). */
  pop(): Uint32Array {
    this.depth--;
    return this.words.slice(this.depth * 8, this.depth * 8 + 8);
  }
  drop(): void {
    this.depth--;
  }
  /** Compares the top value with cv[0..8] and pops it. */
  popEquals(cv: Uint32Array): boolean {
    this.depth--;
    const b = this.depth * 8;
    for (let i = 0; i < 8; i++) if (this.words[b + i] !== cv[i]) return false;
    return true;
  }
}

/**
 * Checks a parent node, its 64 bytes loaded into `block`, against what the walk expects:
 * the root hash for the root, else the chaining value its own parent named (popped from
 * `expect`). When it matches, its children's chaining values are pushed, left on top.
 * `cv` is scratch.
 */
export function checkParent(expect: CvStack, block: Uint32Array, root: boolean, hash: Uint8Array, mode: Mode, cv: Uint32Array): boolean {
  let ok: boolean;
  if (root) {
    expect.drop();
    ok = equalBytes(parentOutput(block.subarray(0, 8), block.subarray(8, 16), mode).rootBytes(32), hash);
  } else {
    compress(mode.key, 0, block, 0, 0, BLOCK_LEN, mode.flags | PARENT, cv, 0);
    ok = expect.popEquals(cv);
  }
  if (ok) {
    expect.push(block, 8);
    expect.push(block, 0);
  }
  return ok;
}
