// BLAKE3 for castor: plain, keyed and derive-key hashing, streaming, extendable
// output, and the chaining values of subtrees that bao outboards are made of.

import { CHUNK_LEN } from './constants.js';
import { defaultKernel } from './kernel-instance.js';
import { deriveKeyMode, HASH_MODE, keyedMode, type Mode } from './mode.js';
import { subtreeOutput } from './subtree.js';
import { InvalidInputError } from '../errors.js';

export { Hasher, type HashResult, type HasherOptions } from './hasher.js';
export { hashFile, type HashFileOptions } from './hash-file.js';
export { HashClient, PIECE_MAX, RemoteHasher, type HashChannel, type PiecesHashed, type RemoteHashResult } from './remote-hasher.js';
export { handleTreeHash, isTreeHashMessage, isTreeHashReply, type TreeHashMessage, type TreeHashReply } from './tree-hash-worker.js';
export { HASH_MODE, keyedMode, wordsOf, bytesOf, type Mode } from './mode.js';
export { Output, chunkOutput, parentOutput } from './output.js';
export * as flags from './constants.js';
export type { Blake3Kernel } from './kernel.js';
export { defaultKernel } from './kernel-instance.js';

/** Bytes already in memory need no streaming buffer: one batched pass over the whole tree. */
function hashWith(data: Uint8Array, mode: Mode, outLen = 32): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  return subtreeOutput(defaultKernel(), data, 0, mode).rootBytes(outLen);
}

/** The BLAKE3 hash of `data`; `outLen` other than 32 gives extended output. */
export function blake3(data: Uint8Array, outLen = 32): Uint8Array {
  return hashWith(data, HASH_MODE, outLen);
}

export function keyedHash(key: Uint8Array, data: Uint8Array, outLen = 32): Uint8Array {
  return hashWith(data, keyedMode(key), outLen);
}

export function deriveKey(context: string, material: Uint8Array, outLen = 32): Uint8Array {
  return hashWith(material, deriveKeyMode(context, (c, m) => hashWith(c, m)), outLen);
}

/**
 * The non-root chaining value of the subtree over `data`, whose first chunk has
 * index `firstChunk`. `data` must be a whole subtree of BLAKE3's tree: a run of
 * 2^k chunks starting at a multiple of 2^k, or the tail of the input from there.
 */
export function subtreeChainingValue(data: Uint8Array, firstChunk: number, mode: Mode = HASH_MODE): Uint32Array {
  if (!Number.isSafeInteger(firstChunk) || firstChunk < 0) throw new InvalidInputError(`chunk index ${firstChunk} is not a non-negative integer`, firstChunk);
  const chunks = Math.max(1, Math.ceil(data.length / CHUNK_LEN));
  const span = 2 ** Math.ceil(Math.log2(chunks));
  if (firstChunk % span !== 0) throw new InvalidInputError(`a subtree of ${chunks} chunks cannot start at chunk ${firstChunk}`, firstChunk);
  return subtreeOutput(defaultKernel(), data, firstChunk, mode).chainingValue();
}


export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
export { compress } from './compress.js';
export { BLOCK_LEN, PARENT } from './constants.js';
export { releaseKernel, takeKernel } from './kernel-pool.js';
export { createKernel } from './select-kernel.js';
export { hashUnits } from './subtree.js';
export { closeWorkerPool } from './worker-pool.js';
export { CHUNK_LEN } from './constants.js';
export { subtreeOutput } from './subtree.js';
