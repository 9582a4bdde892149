// Quarantine: where fsck moves what fails its checks, so nothing it finds is deleted. An
// entry keeps its path relative to the data dir (chunks/ab/cdef… becomes
// quarantine/chunks/ab/cdef…), and never replaces an earlier one: a second bad copy of
// the same name goes to …cdef.1, then .2, and so on.

import { link, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ensureDir } from '../fs/index.js';
import { errnoOf, fsError, isNotFound, pathExists } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';

/**
 * Moves `file` (inside the data dir) into quarantine/. Resolves to the new path relative
 * to the data dir, or undefined if `file` was already gone (another fsck moved it).
 */
export async function quarantine(layout: FsLayout, file: string): Promise<string | undefined> {
  const rel = path.relative(layout.root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new RangeError(`${file} is not inside the data dir ${layout.root}`);
  const base = path.join(layout.quarantine, rel);
  await ensureDirs(layout.root, path.dirname(base));
  for (let n = 0; ; n++) {
    const dest = n === 0 ? base : `${base}.${n}`;
    const placed = await place(file, dest);
    if (placed === 'taken') continue;
    return placed === 'gone' ? undefined : path.relative(layout.root, dest);
  }
}

/**
 * link + unlink, which cannot replace an existing entry. Where hard links do not work (a
 * directory, a file system without them), a rename after checking the name is free.
 */
async function place(file: string, dest: string): Promise<'moved' | 'taken' | 'gone'> {
  try {
    await link(file, dest);
  } catch (err: unknown) {
    const code = errnoOf(err);
    if (code === 'EEXIST') return 'taken';
    if (code === 'ENOENT') return (await pathExists(file)) ? fail(err, dest) : 'gone';
    if (await pathExists(dest)) return 'taken';
    try {
      await rename(file, dest);
      return 'moved';
    } catch (e: unknown) {
      if (isNotFound(e)) return 'gone';
      throw fsError(e, dest, 'quarantining');
    }
  }
  try {
    await unlink(file);
  } catch (err: unknown) {
    if (!isNotFound(err)) throw fsError(err, file, 'quarantining');
  }
  return 'moved';
}

function fail(err: unknown, dest: string): never {
  throw fsError(err, dest, 'quarantining');
}


/** Creates `dir` and its missing parents down from `root` (which exists), one level at a time. */
async function ensureDirs(root: string, dir: string): Promise<void> {
  const parts = path.relative(root, dir).split(path.sep).filter((p) => p !== '');
  let at = root;
  for (const p of parts) {
    at = path.join(at, p);
    await ensureDir(at);
  }
}
