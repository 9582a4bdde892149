// Reading a packed chunk (pack-format.ts) as if it were a chunk file of its own: the pack is
// opened and reads are shifted to the entry's bytes and held inside them. Readers try the
// chunk file first (stores written before chunks were packed) unless this thread's map of
// the packs is loaded and names the chunk, and come here when there is none. An entry whose
// pack has gone (gc or fsck rewrote it since this thread's index was loaded) is looked up
// once more after the index starts over.

import { closeSync, fstatSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { toHex } from '../../../verify/index.js';
import { errnoOf, fsError } from '../../fs/index.js';
import type { FsLayout } from '../../fs/index.js';
import type { ChunkRef } from '../../blob-service.js';
import type { PackEntry } from './pack-format.js';
import { packIndex } from './pack-index.js';
import type { PackFiles } from './pack-files.js';

/** What chunk readers need of an open chunk: a FileHandle, or a packed entry posing as one. */
export interface ChunkHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
  /** For a packed chunk: its entry, and reads anywhere in its pack (for neighbouring entries). */
  readonly packed?: { readonly entry: PackEntry; read(buffer: Uint8Array, offset: number, length: number, packPosition: number): Promise<{ bytesRead: number }> };
}

class PackedChunkHandle implements ChunkHandle {
  readonly #fh: FileHandle;
  readonly #entry: PackEntry;
  readonly #files: PackFiles | undefined;

  constructor(fh: FileHandle, entry: PackEntry, files: PackFiles | undefined) {
    this.#fh = fh;
    this.#entry = entry;
    this.#files = files;
  }

  get packed(): ChunkHandle['packed'] {
    const fh = this.#fh;
    return { entry: this.#entry, read: (buffer, offset, length, packPosition) => fh.read(buffer, offset, length, packPosition) };
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
    return this.#files === undefined ? this.#fh.close() : this.#files.give(this.#entry.pack, this.#fh);
  }
}

/**
 * Opens chunk `chunk` wherever it is kept: one this thread knows to be packed is opened in
 * its pack first (trying a chunk file first cost a failed open and an error object per
 * chunk), anything else as its chunk file, and a chunk with no file is looked for in the
 * packs (which loads this thread's map of them the first time). With `files`, packs are
 * taken from and given back to that cache instead of opened and closed each time.
 */
export async function openChunk(layout: FsLayout, chunk: ChunkRef, files?: PackFiles): Promise<ChunkHandle> {
  if (knownPacked(layout, chunk)) {
    const packed = await openPackedChunk(layout, chunk.digest, files);
    if (packed !== undefined) return packed;
  }
  let fh: FileHandle;
  try {
    fh = await open(layout.chunkPath(chunk.digest), 'r');
  } catch (err: unknown) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    const packed = await openPackedChunk(layout, chunk.digest, files);
    if (packed === undefined) throw err;
    return packed;
  }
  if (chunk.size > 0 && (await fh.stat()).size !== chunk.size) {
    // A chunk file of the wrong size is corrupt (fsck quarantines it); a writer that met
    // it stored the chunk again, packed, and that copy is the one to read.
    const packed = await openPackedChunk(layout, chunk.digest, files);
    if (packed !== undefined && (await packed.stat()).size === chunk.size) {
      await fh.close();
      return packed;
    }
    await packed?.close();
  }
  return fh;
}

/** Where this thread's loaded map says `chunk` is packed, without loading the map (see PackIndex.known). */
export function knownPackEntry(layout: FsLayout, chunk: ChunkRef): PackEntry | undefined {
  return packIndex(layout).known(toHex(chunk.digest));
}

/** Whether this thread's loaded map holds `chunk` (see PackIndex.known). */
function knownPacked(layout: FsLayout, chunk: ChunkRef): boolean {
  return packIndex(layout).known(toHex(chunk.digest)) !== undefined;
}

/** Opens packed blob `digest` (its pack from `files` if given), or resolves to undefined when no pack holds it. */
export async function openPackedChunk(layout: FsLayout, digest: Uint8Array, files?: PackFiles): Promise<ChunkHandle | undefined> {
  const hex = toHex(digest);
  for (let attempt = 0; attempt < 2; attempt++) {
    const entry = packIndex(layout).lookup(hex);
    if (entry === undefined) return undefined;
    try {
      const fh = files === undefined ? await open(entry.pack, 'r') : await files.take(entry.pack);
      return new PackedChunkHandle(fh, entry, files);
    } catch (err: unknown) {
      if (errnoOf(err) !== 'ENOENT') throw fsError(err, entry.pack, 'opening');
      packIndex(layout).reset();
    }
  }
  return undefined;
}

/**
 * openChunk with synchronous calls, for the server's chunk reads: an fd and where the
 * chunk's bytes begin in that file (0 for a chunk file). A packed entry of another size
 * than the chunk's is not that chunk: it throws ENOENT as a missing chunk file would.
 */
export function openChunkSync(layout: FsLayout, chunk: ChunkRef): { fd: number; base: number } {
  if (knownPacked(layout, chunk)) {
    const packed = packedAt(openPackedChunkSync(layout, chunk.digest), chunk.size);
    if (packed !== undefined) return packed;
  }
  let fd: number;
  try {
    fd = openSync(layout.chunkPath(chunk.digest), 'r');
  } catch (err: unknown) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    const packed = packedAt(openPackedChunkSync(layout, chunk.digest), chunk.size);
    if (packed === undefined) throw err;
    return packed;
  }
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (err: unknown) {
    closeSync(fd);
    throw err;
  }
  if (size !== chunk.size) {
    // As in openChunk: a good packed copy beats a chunk file of the wrong size.
    const packed = packedAt(openPackedChunkSync(layout, chunk.digest), chunk.size);
    if (packed !== undefined) {
      closeSync(fd);
      return packed;
    }
  }
  return { fd, base: 0 };
}

/** An opened packed entry as openChunkSync answers, if it is `size` bytes (else closed: it is not that chunk). */
function packedAt(opened: { fd: number; entry: PackEntry } | undefined, size: number): { fd: number; base: number } | undefined {
  if (opened === undefined) return undefined;
  if (opened.entry.size === size) return { fd: opened.fd, base: opened.entry.offset };
  closeSync(opened.fd);
  return undefined;
}

/**
 * The synchronous form of openPackedChunk: an fd on the pack and where the entry is in it.
 * `refresh` false asks only what this thread already knows (no look at packs/ on a miss).
 */
export function openPackedChunkSync(layout: FsLayout, digest: Uint8Array, refresh = true): { fd: number; entry: PackEntry } | undefined {
  const hex = toHex(digest);
  for (let attempt = 0; attempt < 2; attempt++) {
    const entry = refresh ? packIndex(layout).lookup(hex) : packIndex(layout).peek(hex);
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
