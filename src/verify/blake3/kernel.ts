// The batch interface every BLAKE3 kernel implements: many whole chunks or many
// parents per call, so a SIMD kernel can work on four at once and the tree code
// never sees which kernel runs.

export interface Blake3Kernel {
  /** 'wasm-simd' or 'scalar'. */
  readonly name: string;
  /**
   * Chaining values of the whole 1024-byte chunks in `input` (its length is a
   * multiple of 1024), with chunk counters counter, counter+1, ... (below 2^53).
   * Writes 8 words per chunk to out[outOff...]. Never sets ROOT: a lone chunk that
   * is the root is finished by the tree code.
   */
  hashChunks(input: Uint8Array, counter: number, key: Uint32Array, flags: number, out: Uint32Array, outOff: number): void;
  /**
   * n parent nodes: cvs[inOff + 16*i ... +16] holds the left and right child
   * chaining values; writes the parent chaining value (8 words) to out[outOff + 8*i].
   * `out` may be `cvs` with outOff <= inOff (in-place reduction of a tree level).
   */
  hashParents(cvs: Uint32Array, inOff: number, n: number, key: Uint32Array, flags: number, out: Uint32Array, outOff: number): void;
  /**
   * A writable view of `bytes` bytes inside the kernel's own memory, or null. Input
   * placed there (for example read from a file straight into it) is hashed without
   * a copy. The view is valid until the next call to scratch().
   */
  scratch(bytes: number): Uint8Array | null;
}
