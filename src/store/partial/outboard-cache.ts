// Verified outboards of partial blobs kept in memory, so that opening a partial again
// (a server's `peek` per request, a resume) neither rereads nor rehashes its outboard:
// about 90 ms and 4 MiB for a 1 GiB blob. A verified outboard is the only one there is
// for its digest and size (another would be a BLAKE3 collision), so (digest, size) is
// the whole key, and a cached one is as good as, or better than, the copy on disk.

import type { VerifiedOutboard } from '../../verify/index.js';
import { toHex } from '../../verify/index.js';

/** Outboard bytes kept at most (16 GiB of partial blobs at G=4). */
export const OUTBOARD_CACHE_BYTES = 64 << 20;

const cache = new Map<string, VerifiedOutboard>();
let bytes = 0;

function key(digest: Uint8Array, size: number): string {
  return `${toHex(digest)}:${size}`;
}

/** The verified outboard of (digest, size), if cached; marks it recently used. */
export function cachedOutboard(digest: Uint8Array, size: number): VerifiedOutboard | undefined {
  const k = key(digest, size);
  const hit = cache.get(k);
  if (hit !== undefined) {
    cache.delete(k);
    cache.set(k, hit);
  }
  return hit;
}

/** Keeps `tree` (verified, and owned by no caller that may change its bytes), dropping the least recently used beyond the budget. */
export function cacheOutboard(tree: VerifiedOutboard): void {
  if (tree.outboard.length > OUTBOARD_CACHE_BYTES) return;
  const k = key(tree.hash, tree.length);
  const old = cache.get(k);
  if (old !== undefined) {
    cache.delete(k);
    bytes -= old.outboard.length;
  }
  cache.set(k, tree);
  bytes += tree.outboard.length;
  for (const [oldest, t] of cache) {
    if (bytes <= OUTBOARD_CACHE_BYTES) break;
    cache.delete(oldest);
    bytes -= t.outboard.length;
  }
}

/** Forgets everything (tests that damage outboards on disk). */
export function clearOutboardCache(): void {
  cache.clear();
  bytes = 0;
}
