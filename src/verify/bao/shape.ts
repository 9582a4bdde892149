// The shape of a bao tree: sizes of outboards and encodings, where a subtree
// splits, the length header. Everything here follows from the content length and
// the chunk-group log G (groups of 2^G chunks are the leaves).

import { CHUNK_LEN } from '../blake3/index.js';
import { CastorError, InvalidInputError } from '../errors.js';

export const HEADER_LEN = 8;
export const PARENT_LEN = 64;
export const MAX_GROUP_LOG = 8;
/** castor's default: 16 KiB groups, 0.39% outboard overhead. */
export const DEFAULT_GROUP_LOG = 4;

export function checkGroupLog(g: number): number {
  if (!Number.isInteger(g) || g < 0 || g > MAX_GROUP_LOG) throw new InvalidInputError(`group log ${g} is not an integer in 0..${MAX_GROUP_LOG}`, g);
  return g;
}

export function groupBytes(g: number): number {
  return CHUNK_LEN * 2 ** g;
}

/** Leaves of the tree: at least one, the empty input being one empty group. */
export function groupCount(len: number, g: number): number {
  return Math.max(1, Math.ceil(len / groupBytes(g)));
}

/** Bytes of parent nodes in the subtree over `len` content bytes. */
export function subtreeNodeBytes(len: number, g: number): number {
  return PARENT_LEN * (groupCount(len, g) - 1);
}

export function outboardSize(len: number, g: number): number {
  return HEADER_LEN + subtreeNodeBytes(len, g);
}

export function encodedSize(len: number, g: number): number {
  return outboardSize(len, g) + len;
}

/** Bytes in the left child of a node covering `len` bytes (more than one chunk): the largest power-of-two number of chunks below its own. */
export function leftLen(len: number): number {
  const chunks = Math.ceil(len / CHUNK_LEN);
  let p = 1;
  while (p * 2 < chunks) p *= 2;
  return p * CHUNK_LEN;
}

export function encodeLength(len: number): Uint8Array {
  const b = new Uint8Array(HEADER_LEN);
  new DataView(b.buffer).setBigUint64(0, BigInt(len), true);
  return b;
}

/** A length header castor cannot represent exactly (above 2^53 - 1). */
export class LengthTooLargeError extends CastorError {
  constructor(len: bigint) {
    super('LENGTH_TOO_LARGE', `length header ${len} is beyond what castor handles (2^53 - 1)`, len);
  }
}

export function decodeLength(header: Uint8Array): number {
  const v = new DataView(header.buffer, header.byteOffset, HEADER_LEN).getBigUint64(0, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LengthTooLargeError(v);
  return Number(v);
}
