// What signed roots keep alive, for the garbage collector: for every root this data dir
// accepted, its Index blob and the node of each entry (a Directory digest, or a file's
// blob digest; symlinks name nothing). Directories below those are the collector's to walk.

import type { DataDir } from '../disk/index.js';
import { type Digest, asDigest } from '../digest.js';
import { entryNodeAt } from './index-codec.js';
import { readIndexBlob } from './index-blob.js';
import { scanIndex } from './index-scan.js';
import { TrustState } from './trust-state.js';

/**
 * Yields, for every accepted root in `data`, the Index blob digest and then the digest
 * of each entry's node. The Index is read verified and checked again (scanIndex) before
 * its entries are believed. Throws (INDEX_MISSING, INVALID_INDEX, CORRUPT_TRUST_STATE, or
 * a store read error) rather than yield a partial set: a collector must then stop, not
 * delete what an unreadable root might name.
 */
export async function* trustRoots(data: DataDir): AsyncIterable<Digest> {
  const state = new TrustState(data.layout);
  for (const accepted of await state.list()) {
    const indexDigest = accepted.root.indexDigest;
    yield indexDigest;
    const bytes = await readIndexBlob(data.blobs, indexDigest);
    const offsets = scanIndex(bytes);
    for (let i = 0; i + 1 < offsets.length; i++) {
      const node = entryNodeAt(bytes, offsets[i]!, offsets[i + 1]!, i);
      if ('directory' in node) yield asDigest(node.directory.digest);
      else if ('file' in node) yield asDigest(node.file.digest);
    }
  }
}
