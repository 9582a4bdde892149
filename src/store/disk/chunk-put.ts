// A chunk of a blob being stored, kept once: found already kept (dedup), or appended to this
// thread's pack (pack-format.ts). Chunks are looked for in the packs this thread knows (and
// in packs/ again on a miss, at most every DEDUP_REFRESH_MS: another process may have stored
// it meanwhile) and, for stores written before chunks were packed, as chunk files. A chunk
// found is refreshed for gc, which spares what was touched recently (gc.ts): a chunk file
// by its own mtime, a packed chunk by its pack's, once per pack and blob (Dedup.touched);
// a durable writer also has the pack made durable (PackWriter.syncFor), once per pack and blob.

import { statSync, utimesSync } from 'node:fs';
import { fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { packIndex } from './packs/index.js';
import { packWriter } from './packs/index.js';

/** How often a dedup lookup that misses may look at packs/ again. */
export const DEDUP_REFRESH_MS = 100;

/** One blob's dedup state: the packs it found chunks in, touched (and synced, if durable) once each. */
export interface Dedup {
  readonly durable: boolean;
  readonly touched: Set<string>;
}

export function newDedup(durable: boolean): Dedup {
  return { durable, touched: new Set() };
}

/**
 * Whether chunk `hex` of `size` bytes is kept already, packed or as a chunk file, refreshed
 * for gc. A pack gone since this thread loaded its map (gc rewrote it) makes the map start
 * over, and the chunk is looked for once more.
 */
export function chunkKept(layout: FsLayout, hex: string, size: number, dedup: Dedup): boolean {
  const index = packIndex(layout);
  for (let attempt = 0; attempt < 2; attempt++) {
    const e = index.lookupEvery(hex, DEDUP_REFRESH_MS);
    if (e === undefined || e.size !== size) break;
    if (dedup.touched.has(e.pack)) return true;
    if (touch(e.pack)) {
      if (dedup.durable) packWriter(layout).syncFor(e.pack);
      dedup.touched.add(e.pack);
      return true;
    }
    index.reset();
  }
  return chunkFileKept(layout.chunkPath(hex), size);
}

/**
 * Stores chunk `hex` (`digest`, `bytes`) unless it is kept already; the bytes it added. A
 * durable `dedup` appends with durability 'later' (PackWriter.append).
 */
export function putChunkSync(layout: FsLayout, digest: Uint8Array, hex: string, bytes: Uint8Array, dedup: Dedup): number {
  if (chunkKept(layout, hex, bytes.length, dedup)) return 0;
  packWriter(layout).append(digest, hex, bytes, dedup.durable ? 'later' : false);
  return bytes.length;
}

/** Sets the mtime of `file` to now; false if there is no such file. */
export function touch(file: string): boolean {
  // Looked for first: a failing utimes costs a Node error object with its stack, which
  // was a tenth of adding a tree of new small files (perf), and new files are the usual case.
  if (!statSync(file, { throwIfNoEntry: false })) return false;
  try {
    const now = new Date();
    utimesSync(file, now, now);
    return true;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw fsError(err, file, 'touching');
  }
}

/**
 * A chunk file of the right size (its bytes are verified on every read), touched before the
 * size check: a gc that moves the file away after the check must already see it as recent,
 * and put it back. One of the wrong size is corrupt: the chunk is stored again, packed.
 */
export function chunkFileKept(file: string, size: number): boolean {
  try {
    if (!touch(file)) return false;
    return statSync(file).size === size;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw fsError(err, file, 'checking');
  }
}
