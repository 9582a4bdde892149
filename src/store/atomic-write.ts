// Crash-safe publication of files under content-derived names: write a fresh file, fsync
// it, rename it into place, fsync the directory. rename(2) replaces atomically, so a
// reader (or a process killed at any point) sees the old state or the whole new file,
// and several writers racing to publish the same name with the same bytes all succeed.

import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errnoOf, fsError } from './fs-errors.js';

/** Creates `file` (which must not exist) holding `bytes`; fsynced when `durable`. Leaves nothing behind on failure. */
export async function writeSynced(file: string, bytes: Uint8Array, durable: boolean): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'wx');
    // Positional writes: about half the cost of FileHandle.writeFile for a 64 KiB chunk.
    for (let at = 0; at < bytes.length;) {
      const { bytesWritten } = await fh.write(bytes, at, bytes.length - at, at);
      at += bytesWritten;
    }
    if (durable) await fh.sync();
    const done = fh;
    fh = undefined;
    await done.close();
  } catch (err: unknown) {
    await discard(fh, file);
    throw fsError(err, file, 'writing');
  }
}

// The failure being reported is the write's; if closing or removing fails too, the file
// is left in tmp/ for cleanTemp, which is why everything unfinished lives there.
async function discard(fh: FileHandle | undefined, file: string): Promise<void> {
  try { await fh?.close(); } catch { /* see above */ }
  try { await rm(file, { force: true }); } catch { /* see above */ }
}

/**
 * Renames `from` to `to`, creating `to`'s directory if needed. Resolves to the directories
 * whose entries changed and must be fsynced for the rename to survive power loss.
 */
export async function moveInto(from: string, to: string): Promise<string[]> {
  const dir = path.dirname(to);
  try {
    await rename(from, to);
    return [dir];
  } catch (err: unknown) {
    if (errnoOf(err) !== 'ENOENT') throw fsError(err, to, 'publishing');
  }
  const created = await ensureDir(dir);
  try {
    await rename(from, to);
  } catch (err: unknown) {
    throw fsError(err, errnoOf(err) === 'ENOENT' ? from : to, 'publishing');
  }
  return created ? [dir, path.dirname(dir)] : [dir];
}

/**
 * Creates `dir` (whose parent must exist); resolves to false if it was already there, as
 * when another process made the same shard dir a moment ago. Not `recursive: true`: Node
 * then reports EROFS as the ENOENT of a follow-up stat, hiding a read-only mount.
 */
export async function ensureDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (err: unknown) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw fsError(err, dir, 'creating');
  }
}

/** Makes renames and creations in `dir` durable (Linux needs an fsync of the directory itself). */
export async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err: unknown) {
    throw fsError(err, dir, 'syncing');
  } finally {
    await fh?.close();
  }
}
