// Walking one of the sharded trees of a data dir (chunks/, blobs/, dirs/): every entry
// ab/cdef… in name order, one shard listed at a time so memory stays that of one shard,
// with anything that is not a regular file under a digest name reported as a stray.

import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseDigest, type Digest } from '../digest.js';
import { fsError, isNotFound } from './fs-errors.js';

export interface ShardEntry {
  /** Absolute path. */
  readonly path: string;
  /** Path relative to the data dir, for reports. */
  readonly rel: string;
  /** Lowercase hex digest the name spells; undefined for a stray. */
  readonly hex: string | undefined;
}

export interface StoredEntry extends ShardEntry {
  readonly hex: string;
  readonly digest: Digest;
}

const SHARD = /^[0-9a-f]{2}$/;
const REST = /^[0-9a-f]{62}$/;

/**
 * Every entry under `top` (one of layout.chunks, blobs, dirs), shard by shard in name
 * order. Entries named ab/<62 hex> that are regular files have `hex` set; anything else
 * (a bad name, a directory or link where a file belongs, a file where a shard belongs) is
 * a stray with `hex` undefined. A missing `top` or shard is empty, not an error: other
 * processes may be creating them.
 */
export async function* shardEntries(top: string, dataRoot: string): AsyncGenerator<ShardEntry> {
  for (const shard of await list(top)) {
    const shardPath = path.join(top, shard.name);
    if (!shard.isDirectory() || !SHARD.test(shard.name)) {
      yield { path: shardPath, rel: path.relative(dataRoot, shardPath), hex: undefined };
      continue;
    }
    for (const e of await list(shardPath)) {
      const p = path.join(shardPath, e.name);
      const ok = e.isFile() && REST.test(e.name);
      yield { path: p, rel: path.relative(dataRoot, p), hex: ok ? shard.name + e.name : undefined };
    }
  }
}

/** Only the well-named regular files of `top`, with their digests; strays are skipped. */
export async function* storedEntries(top: string, dataRoot: string): AsyncGenerator<StoredEntry> {
  for await (const e of shardEntries(top, dataRoot)) {
    if (e.hex !== undefined) yield { ...e, hex: e.hex, digest: parseDigest(e.hex) };
  }
}

async function list(dir: string): Promise<Dirent[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, dir, 'listing');
  }
}
