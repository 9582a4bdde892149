// Outboards and combined encodings. The outboard comes out of the same pass as
// the hash; the combined encoding then interleaves it with the content, which is
// the slice of the whole content taken from outboard + data.

import { hashFile, type HashFileOptions } from '../blake3/index.js';
import { Hasher, type HashResult } from '../blake3/index.js';
import type { Blake3Kernel } from '../blake3/index.js';
import { BytesReader, type ByteReader } from './readers.js';
import { WHOLE } from './ranges.js';
import { checkGroupLog, DEFAULT_GROUP_LOG, encodeLength } from './shape.js';
import { extractSlice, type Sink } from './slice.js';
import { OutboardSource } from './sources.js';

export interface Outboard {
  readonly hash: Uint8Array;
  readonly length: number;
  readonly groupLog: number;
  /** Length header followed by the parent nodes in pre-order. */
  readonly outboard: Uint8Array;
}

export function withHeader(length: number, nodes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + nodes.length);
  out.set(encodeLength(length), 0);
  out.set(nodes, 8);
  return out;
}

function asOutboard(r: HashResult, g: number): Outboard {
  return { hash: r.hash, length: r.length, groupLog: g, outboard: withHeader(r.length, r.nodes!) };
}

/** Hashes a stream and builds its outboard in one pass. */
export async function buildOutboard(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, groupLog = DEFAULT_GROUP_LOG, kernel?: Blake3Kernel): Promise<Outboard> {
  const g = checkGroupLog(groupLog);
  const h = new Hasher({ groupLog: g, kernel });
  for await (const piece of source) h.update(piece);
  return asOutboard(h.finalize(), g);
}

/** The outboard of an open file of `size` bytes, built on several cores (see hashFile). */
export async function outboardFile(
  fd: number, size: number, groupLog = DEFAULT_GROUP_LOG, options: Omit<HashFileOptions, 'groupLog'> = {},
): Promise<Outboard> {
  const g = checkGroupLog(groupLog);
  return asOutboard(await hashFile(fd, size, { ...options, groupLog: g }), g);
}

export function outboardOf(data: Uint8Array, groupLog = DEFAULT_GROUP_LOG): Outboard {
  const g = checkGroupLog(groupLog);
  return asOutboard(new Hasher({ groupLog: g }).update(data).finalize(), g);
}

/** Writes the combined encoding of the content read by `data`, given its outboard. */
export function writeCombined(outboard: Uint8Array, data: ByteReader, write: Sink, groupLog = DEFAULT_GROUP_LOG): Promise<void> {
  return extractSlice(new OutboardSource(new BytesReader(outboard), data), WHOLE, write, groupLog);
}

/** The combined encoding of bytes in memory (tests, small inputs). */
export async function encodeBytes(data: Uint8Array, groupLog = DEFAULT_GROUP_LOG): Promise<{ hash: Uint8Array; encoded: Uint8Array }> {
  const ob = outboardOf(data, groupLog);
  const parts: Uint8Array[] = [];
  await writeCombined(ob.outboard, new BytesReader(data), (b) => { parts.push(b); }, groupLog);
  return { hash: ob.hash, encoded: new Uint8Array(Buffer.concat(parts)) };
}
