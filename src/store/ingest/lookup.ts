// What a digest names in a store: a Directory (a tree) or a blob (a file's content).
// Commands take bare digests, so they ask this before deciding what to do.

import type { BlobService, BlobStat } from '../blob-service.js';
import { directorySize, type Directory, type Node } from '../castore/index.js';
import type { Digest } from '../digest.js';
import type { DirectoryService } from '../directory-service.js';

export type Found =
  | { readonly type: 'directory'; readonly node: Node; readonly directory: Directory }
  | { readonly type: 'blob'; readonly node: Node; readonly stat: BlobStat };

const NO_NAME = new Uint8Array(0);

/**
 * The anonymous root Node for `digest`, as a Directory if the store holds one by that
 * digest (a Directory's canonical bytes could also be stored as a blob; the tree is what
 * a user means), else as a non-executable file if it holds such a blob; undefined if neither.
 */
export async function findDigest(store: { blobs: BlobService; directories: DirectoryService }, digest: Digest): Promise<Found | undefined> {
  const directory = await store.directories.get(digest);
  if (directory !== undefined) {
    return { type: 'directory', directory, node: { directory: { name: NO_NAME, digest, size: directorySize(directory) } } };
  }
  const stat = await store.blobs.stat(digest);
  if (stat !== undefined) {
    return { type: 'blob', stat, node: { file: { name: NO_NAME, digest, size: BigInt(stat.size), executable: false } } };
  }
  return undefined;
}
