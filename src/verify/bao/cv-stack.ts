// The chaining values a pre-order walk still expects, shared by the decoder and the
// verifying slicer.

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
