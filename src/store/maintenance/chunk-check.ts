// What fsck knows about chunks: which it has hashed and found matching their names, which
// it found bad, and hashing a chunk (its file, or its packed entry) it has not seen yet.
// Kept for the whole run so each chunk is hashed once, however many blobs share it.

import { open } from 'node:fs/promises';
import { Hasher } from '../../verify/index.js';
import { asDigest, digestEquals, formatDigest, type Digest } from '../digest.js';
import { DigestSet } from '../util/index.js';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { chunkDigest } from '../disk/index.js';
import { openChunk, type ChunkHandle } from '../disk/index.js';

/** Chunks up to this size are hashed from one buffer; larger ones stream through a Hasher. */
export const WHOLE_CHUNK_MAX = 1 << 20;

export type ChunkVerdict =
  | { readonly state: 'ok' }
  | { readonly state: 'missing' }
  | { readonly state: 'corrupt'; readonly detail: string };

export class ChunkBook {
  /** Hashed and found to match their names. */
  readonly good = new DigestSet();
  /** Of those, the ones found good as pack entries: a chunk file of the same name is hashed on its own. */
  readonly goodPacked = new DigestSet();
  /** Found not to match (and quarantined, unless this is a dry run). */
  readonly bad = new DigestSet();
  readonly layout: FsLayout;

  constructor(layout: FsLayout) {
    this.layout = layout;
  }

  /**
   * Hashes chunk `digest` unless already judged; a chunk judged bad earlier stays bad.
   * `fileOnly` hashes its chunk file, not a packed entry of the same digest (fsck's walk of
   * chunks/), and answers from what was judged before only if that was not a packed copy.
   */
  async check(digest: Digest, onHashed?: (bytes: number) => void, fileOnly = false): Promise<ChunkVerdict> {
    if (this.good.has(digest) && !(fileOnly && this.goodPacked.has(digest))) return { state: 'ok' };
    const file = this.layout.chunkPath(digest);
    let fh: ChunkHandle;
    try {
      fh = fileOnly ? await open(file, 'r') : await openChunk(this.layout, { digest, size: 0 });
    } catch (err: unknown) {
      if (isNotFound(err)) return { state: 'missing' };
      throw fsError(err, file, 'opening');
    }
    try {
      const { size } = await fh.stat();
      const actual = await hashOpenFile(fh, size, file);
      onHashed?.(size);
      return this.judge(digest, actual);
    } catch (err: unknown) {
      // A chunk the disk cannot read back is as lost as one that reads back wrong.
      if (errnoOf((err as { cause?: unknown }).cause) !== 'EIO') throw err;
      this.bad.add(digest);
      return { state: 'corrupt', detail: 'its file cannot be read (EIO)' };
    } finally {
      await fh.close();
    }
  }

  /** Records the hash of a chunk's bytes, read by whoever had them at hand. */
  judge(digest: Digest, actual: Digest): ChunkVerdict {
    if (digestEquals(digest, actual)) {
      this.good.add(digest);
      return { state: 'ok' };
    }
    this.bad.add(digest);
    return { state: 'corrupt', detail: `its bytes hash to ${formatDigest(actual)}` };
  }
}

/** BLAKE3 of the first `size` bytes of an open file, in bounded memory. */
export async function hashOpenFile(fh: ChunkHandle, size: number, file: string): Promise<Digest> {
  if (size <= WHOLE_CHUNK_MAX) return chunkDigest(await readFully(fh, 0, size, file));
  const hasher = new Hasher();
  for (let at = 0; at < size; at += WHOLE_CHUNK_MAX) hasher.update(await readFully(fh, at, Math.min(WHOLE_CHUNK_MAX, size - at), file));
  return asDigest(hasher.finalize().hash);
}

/** Up to `n` bytes at `position`: fewer only if the file ends first (the hash then differs). */
async function readFully(fh: ChunkHandle, position: number, n: number, file: string): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let got = 0;
  try {
    while (got < n) {
      const { bytesRead } = await fh.read(buf, got, n - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } catch (err: unknown) {
    throw fsError(err, file, 'reading');
  }
  return got === n ? buf : buf.subarray(0, got);
}
