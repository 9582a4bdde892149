// Roots this node fetched whole, remembered across restarts so a restarted node still
// announces them. Pins cover what `add` stored; a fetch does not pin (gc may take what was
// fetched), so the node keeps its own note: <data dir>/provides/<hex>, one empty file per
// root, written by rename-free create (an empty file cannot be half-written). A note whose
// content gc removed since is skipped at announce time, not trusted.

import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataDir } from '../../store/index.js';
import { formatDigest, parseDigest, type Digest } from '../../store/index.js';
import { fsError, isNotFound } from '../../store/index.js';

export const PROVIDES_DIR = 'provides';

const HEX = /^[0-9a-f]{64}$/u;

function dirOf(data: DataDir): string {
  return path.join(data.layout.root, PROVIDES_DIR);
}

/** Notes that `digest` was fetched whole into `data`. */
export async function noteFetched(data: DataDir, digest: Digest): Promise<void> {
  const dir = dirOf(data);
  const file = path.join(dir, formatDigest(digest));
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(file, '');
  } catch (err: unknown) {
    throw fsError(err, file, 'writing');
  }
}

/** Every root noted as fetched, whether or not the store still holds it. */
export async function fetchedRoots(data: DataDir): Promise<Digest[]> {
  const dir = dirOf(data);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, dir, 'listing');
  }
  return names.filter((n) => HEX.test(n)).sort().map((n) => parseDigest(n));
}

/** Whether `data` holds `digest` as a blob or a Directory. */
export async function holds(data: DataDir, digest: Digest): Promise<boolean> {
  return (await data.blobs.has(digest)) || (await data.directories.get(digest)) !== undefined;
}
