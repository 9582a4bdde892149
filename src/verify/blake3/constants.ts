// BLAKE3 constants, named as in the BLAKE3 paper and reference implementation.

export const OUT_LEN = 32;
export const KEY_LEN = 32;
export const BLOCK_LEN = 64;
export const CHUNK_LEN = 1024;

/** Domain flags; a compression's flags word is an OR of these. */
export const CHUNK_START = 1 << 0;
export const CHUNK_END = 1 << 1;
export const PARENT = 1 << 2;
export const ROOT = 1 << 3;
export const KEYED_HASH = 1 << 4;
export const DERIVE_KEY_CONTEXT = 1 << 5;
export const DERIVE_KEY_MATERIAL = 1 << 6;

/** The SHA-256 IV, which BLAKE3 uses as its key in plain hash mode. */
export const IV = Uint32Array.of(
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
);

/** Message word order for each of the 7 rounds (the permutation applied round after round). */
export const MSG_SCHEDULE: readonly (readonly number[])[] = (() => {
  const perm = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  const rounds: number[][] = [];
  let cur = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    rounds.push(cur);
    cur = perm.map((p) => cur[p]!);
  }
  return rounds;
})();
