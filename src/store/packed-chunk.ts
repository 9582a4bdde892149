// Reading a chunk that is a packed small blob (pack-format.ts) as if it were a chunk file of
// its own: the pack is opened and reads are shifted to the entry's bytes and held inside
// them. Readers try the chunk file first and come here when there is none. An entry whose
// pack has gone (gc or fsck rewrote it since this thread's index was loaded) is looked up
// once more after the index starts over.

import { openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { toHex } from '../verify/blake3/index.js';
import { errnoOf, fsError } from './fs-errors.js';
import type { FsLayout } from './fs-layout.js';
import type { PackEntry } from './pack-format.js';
import { packIndex } from './pack-index.js';

/** What chunk readers need of an open chunk: a FileHandle, or a packed entry posing as one. */
export interface ChunkHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

class PackedChunkHandle implements ChunkHandle {
  readonly #fh: FileHandle;
  readonly #entry: PackEntry;

  constructor(fh: FileHandle, entry: PackEntry) {
    this.#fh = fh;
    this.#entry = entry;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const n = Math.max(0, Math.min(length, this.#entry.size - position));
    if (n === 0) return { bytesRead: 0 };
    return this.#fh.read(buffer, offset, n, this.#entry.offset + position);
  }

  async stat(): Promise<{ size: number }> {
    return { size: this.#entry.size };
  }

  close(): Promise<void> {
    return this.#fh.close();
  }
}

/** Opens packed blob `digest`, or resolves to undefined when no pack holds it. */
export async function openPackedChunk(layout: FsLayout, digest: Uint8Array): Promise<ChunkHandle | undefined> {
  const hex = toHex(digest);
  for (let attempt = 0; attempt < 2; attempt++) {
    const entry = packIndex(layout).lookup(hex);
    if (entry === undefined) return undefined;
    try {
      return new PackedChunkHandle(await open(entry.pack, 'r'), entry);
    } catch (err: unknown) {
      if (errnoOf(err) !== 'ENOENT') throw fsError(err, entry.pack, 'opening');
      packIndex(layout).reset();
    }
  }
  return undefined;
}

/** The synchronous form for the server's chunk reads: an fd on the pack and where the entry is in it. */
export function openPackedChunkSync(layout: FsLayout, digest: Uint8Array): { fd: number; entry: PackEntry } | undefined {
  const hex = toHex(digest);
  for (let attempt = 0; attempt < 2; attempt++) {
    const entry = packIndex(layout).lookup(hex);
    if (entry === undefined) return undefined;
    try {
      return { fd: openSync(entry.pack, 'r'), entry };
    } catch (err: unknown) {
      if (errnoOf(err) !== 'ENOENT') throw fsError(err, entry.pack, 'opening');
      packIndex(layout).reset();
    }
  }
  return undefined;
}
