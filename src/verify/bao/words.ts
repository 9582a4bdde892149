// Little helpers the tree checks share: loading a node's bytes as words and comparing
// chaining values without allocating.

export function loadWords(bytes: Uint8Array, out: Uint32Array): void {
  for (let i = 0; i < out.length; i++) {
    const j = 4 * i;
    out[i] = bytes[j]! | (bytes[j + 1]! << 8) | (bytes[j + 2]! << 16) | (bytes[j + 3]! << 24);
  }
}

/** The first 8 words of `a` and `b` are equal. */
export function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
