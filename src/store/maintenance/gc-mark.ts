// The mark half of gc: from root digests to every Directory, blob record and chunk they
// keep. A root may name a Directory (the tree below it is kept: its Directories and the
// blobs its files name), a blob, or both (the empty Directory and the empty blob share a
// digest). Anything that would leave the marked set incomplete (a corrupt Directory or
// record, a Directory naming a child that is not there) stops the collection: deleting on
// a partial mark could remove what a root still needs.

import { CastorError } from '../../verify/index.js';
import type { DataDir } from '../disk/index.js';
import { asDigest, formatDigest, type Digest } from '../digest.js';
import { DigestSet } from '../util/index.js';
import { showName } from '../castore/index.js';
import { readChunkTable } from '../disk/index.js';
import { forEachConcurrent, WALK_CONCURRENCY } from '../util/index.js';

/** gc stopped before deleting anything because the store is damaged. */
export class GcAbortedError extends CastorError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('GC_ABORTED', `gc stopped, nothing was removed: ${detail}; run castor fsck first`, undefined, options);
  }
}

export class Marker {
  readonly blobs = new DigestSet();
  readonly dirs = new DigestSet();
  readonly chunks = new DigestSet();
  /** Blobs named by marked trees that have no record here. */
  readonly #absent = new DigestSet();
  readonly #data: DataDir;

  constructor(data: DataDir) {
    this.#data = data;
  }

  /** Marks what `root` keeps; resolves to false if it names nothing in the store. */
  async root(root: Digest): Promise<boolean> {
    const asDir = await this.tree(root);
    const asBlob = await this.blob(root);
    return asDir || asBlob;
  }

  /**
   * Marks the Directory `top` and everything below it, breadth-first, skipping subtrees
   * already marked. Resolves to false if `top` is not stored.
   */
  async tree(top: Digest): Promise<boolean> {
    if (this.dirs.has(top)) return true;
    const queue: { digest: Digest; from?: { parent: Digest; name: Uint8Array } }[] = [{ digest: top }];
    for (let i = 0; i < queue.length; i++) {
      const { digest, from } = queue[i]!;
      if (this.dirs.has(digest)) continue;
      let dir;
      try {
        dir = await this.#data.directories.get(digest);
      } catch (err: unknown) {
        throw new GcAbortedError(`directory ${formatDigest(digest)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (dir === undefined) {
        if (from === undefined) return false;
        throw new GcAbortedError(`directory ${formatDigest(from.parent)} names child ${showName(from.name)} (${formatDigest(digest)}), which is not in the store`);
      }
      this.dirs.add(digest);
      for (const d of dir.directories) {
        const child = asDigest(d.digest);
        if (!this.dirs.has(child)) queue.push({ digest: child, from: { parent: digest, name: d.name } });
      }
      await forEachConcurrent(dir.files, WALK_CONCURRENCY, async (f) => { await this.blob(asDigest(f.digest)); });
      // Drop what has been walked so a wide tree does not keep its whole frontier history.
      if (i >= 1024) {
        queue.splice(0, i + 1);
        i = -1;
      }
    }
    return true;
  }

  /** Marks blob `digest` and the chunks its record names; resolves to false if it has no record. */
  async blob(digest: Digest): Promise<boolean> {
    if (this.blobs.has(digest)) return true;
    if (this.#absent.has(digest)) return false;
    return this.record(digest);
  }

  /** Like blob(), but looks on disk even if the blob was absent before (a record found in the sweep). */
  async record(digest: Digest): Promise<boolean> {
    if (this.blobs.has(digest)) return true;
    let chunks;
    try {
      chunks = await readChunkTable(this.#data.layout, digest);
    } catch (err: unknown) {
      if (err instanceof CastorError && err.code === 'CORRUPT_RECORD') throw new GcAbortedError(err.message, { cause: err });
      throw err;
    }
    // A file whose blob is not here (yet) keeps nothing; remembered so a blob many files
    // share is looked up once.
    if (chunks === undefined) {
      this.#absent.add(digest);
      return false;
    }
    this.blobs.add(digest);
    // A blob kept with no record (one-group-blob.ts), packed or a chunk file, is its own one
    // chunk: its digest marked here is what keeps its pack entry (gc.ts).
    for (const c of chunks) this.chunks.add(c.digest);
    return true;
  }
}
