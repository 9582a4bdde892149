// Loads the official vector files from ../shared/vectors and makes their inputs.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/verify -> project root -> ../shared/vectors */
export const VECTORS_DIR = path.resolve(here, '../../../../shared/vectors');

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(VECTORS_DIR, name), 'utf8')) as T;
}

/** BLAKE3 vectors' input: byte i is i % 251. */
export function blake3Input(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i % 251;
  return b;
}

/** bao vectors' input: a 4-byte little-endian counter starting at 1, cut to len. */
export function baoInput(len: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(len / 4) * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i * 4 < len; i++) dv.setUint32(i * 4, i + 1, true);
  return b.subarray(0, len);
}
