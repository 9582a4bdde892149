// The three BLAKE3 modes as (key words, flags) pairs that the tree code threads through.

import { DERIVE_KEY_CONTEXT, DERIVE_KEY_MATERIAL, IV, KEYED_HASH, KEY_LEN } from './constants.js';
import { InvalidInputError } from '../errors.js';

export interface Mode {
  readonly key: Uint32Array;
  readonly flags: number;
}

export const HASH_MODE: Mode = { key: IV, flags: 0 };

/** Little-endian words of a 32-byte key or chaining value. */
export function wordsOf(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(bytes.length >>> 2);
  for (let i = 0; i < w.length; i++) {
    w[i] = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
  }
  return w;
}

/** Little-endian bytes of words. */
export function bytesOf(words: Uint32Array, count = words.length): Uint8Array {
  const b = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) {
    const v = words[i]!;
    b[4 * i] = v; b[4 * i + 1] = v >>> 8; b[4 * i + 2] = v >>> 16; b[4 * i + 3] = v >>> 24;
  }
  return b;
}

export function keyedMode(key: Uint8Array): Mode {
  if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array');
  if (key.length !== KEY_LEN) throw new InvalidInputError(`keyed hash needs a ${KEY_LEN}-byte key, got ${key.length}`, key.length);
  return { key: wordsOf(key), flags: KEYED_HASH };
}

/** Derive-key mode needs the context hashed first; `hashContext` is the tree hash in context mode. */
export function deriveKeyMode(context: string, hashContext: (ctx: Uint8Array, mode: Mode) => Uint8Array): Mode {
  const ctxKey = hashContext(new TextEncoder().encode(context), { key: IV, flags: DERIVE_KEY_CONTEXT });
  return { key: wordsOf(ctxKey), flags: DERIVE_KEY_MATERIAL };
}
