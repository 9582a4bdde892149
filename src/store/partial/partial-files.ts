// The files of one partial blob, `partial/<hex digest>/` in the data dir:
//
//   meta.json  {"format":"castor-partial","version":1,"size":N,"groupLog":4}
//   outboard   the blob's G=4 outboard (header + parents), verified before it was stored
//   content    a sparse file of the blob's size; held groups are at their own offsets
//   bitfield   ceil(groups / 8) bytes, bit i (LSB first) set = group i is in `content`
//
// The dir is built complete as `<hex>.new` and renamed into place, so a partial either
// exists whole or not at all. Removal renames it to `.trash-*` first, so a process
// killed while removing leaves trash (swept later), never a dir missing some files.
// Only the holder of the partial's lock creates, removes or writes it.

import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { verifyOutboard, type VerifiedOutboard } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';
import { ensureDir, syncDir, writeSynced } from '../fs/index.js';
import { BLOB_GROUP_LOG, type Digest } from '../blob-service.js';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { cachedOutboard, cacheOutboard } from './outboard-cache.js';
import { CorruptPartialError } from './partial-errors.js';
import { FileLock } from './partial-lock.js';

export const META_FILE = 'meta.json';
export const OUTBOARD_FILE = 'outboard';
export const CONTENT_FILE = 'content';
export const BITFIELD_FILE = 'bitfield';
const FORMAT = 'castor-partial';
const VERSION = 1;
const TRASH_PREFIX = '.trash-';
const HEX_NAME = /^[0-9a-f]{64}$/;

export function lockPath(layout: FsLayout, digest: Digest): string {
  return `${layout.partialPath(digest)}.lock`;
}

export function bitfieldBytes(groups: number): number {
  return Math.ceil(groups / 8);
}

/** An opened partial: its verified outboard, the content file, and the bitfield as persisted. */
export interface PartialFiles {
  readonly tree: VerifiedOutboard;
  readonly content: FileHandle;
  /** Open for writing when the partial was opened writable. */
  readonly bitfieldFile: FileHandle | undefined;
  readonly bitfield: Uint8Array;
}

export async function partialExists(layout: FsLayout, digest: Digest): Promise<boolean> {
  const dir = layout.partialPath(digest);
  try {
    return (await stat(dir)).isDirectory();
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw fsError(err, dir, 'checking');
  }
}

/** Creates the partial dir of a verified outboard with nothing held; the caller holds the lock and made sure none exists. */
export async function createPartial(layout: FsLayout, tree: VerifiedOutboard, durable: boolean): Promise<void> {
  const dir = layout.partialPath(tree.hash);
  const staging = `${dir}.new`;
  try {
    // A predecessor killed while creating it (it held the lock we hold now).
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging);
    const meta = JSON.stringify({ format: FORMAT, version: VERSION, size: tree.length, groupLog: tree.groupLog });
    // The four files at once: their fsyncs overlap (one wait instead of four, tens of ms
    // each on a busy disk). The dir is renamed into place only once all of them are durable.
    const written = await Promise.allSettled([
      writeSynced(path.join(staging, META_FILE), new TextEncoder().encode(meta), durable),
      writeSynced(path.join(staging, OUTBOARD_FILE), tree.outboard, durable),
      writeSynced(path.join(staging, BITFIELD_FILE), new Uint8Array(bitfieldBytes(tree.groupCount)), durable),
      createContent(path.join(staging, CONTENT_FILE), tree.length, durable),
    ]);
    const failed = written.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    if (durable) await syncDir(staging);
    await rename(staging, dir);
    if (durable) await syncDir(layout.partial);
  } catch (err: unknown) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw fsError(err, staging, 'creating');
  }
}

/** The sparse content file of `size` bytes. */
async function createContent(file: string, size: number, durable: boolean): Promise<void> {
  const fh = await open(file, 'wx');
  try {
    await fh.truncate(size);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Opens the partial of `digest`: checks meta.json, verifies the stored outboard against
 * the digest again (parents only; skipped when this process has it verified already,
 * see outboard-cache.ts), checks the content file's size and the bitfield's length. Held groups are not rehashed. Undefined if there is no partial;
 * CORRUPT_PARTIAL if what is there does not hold together.
 */
export async function openPartial(layout: FsLayout, digest: Digest, writable: boolean): Promise<PartialFiles | undefined> {
  const dir = layout.partialPath(digest);
  let metaText: string;
  let outboard: Uint8Array;
  try {
    metaText = await readFile(path.join(dir, META_FILE), 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err) && !(await partialExists(layout, digest))) return undefined;
    throw corrupt(digest, err, META_FILE);
  }
  const meta = parseMeta(digest, metaText);
  let tree = cachedOutboard(digest, meta.size);
  if (tree === undefined) {
    try {
      outboard = new Uint8Array(await readFile(path.join(dir, OUTBOARD_FILE)));
    } catch (err: unknown) {
      throw corrupt(digest, err, OUTBOARD_FILE);
    }
    try {
      tree = verifyOutboard(digest, meta.size, outboard, meta.groupLog);
    } catch (err: unknown) {
      throw new CorruptPartialError(digest, `its outboard does not verify (${(err as Error).message})`, { cause: err });
    }
    cacheOutboard(tree);
  }
  let content: FileHandle | undefined;
  let bitfieldFile: FileHandle | undefined;
  try {
    content = await open(path.join(dir, CONTENT_FILE), writable ? 'r+' : 'r');
    const size = (await content.stat()).size;
    if (size !== tree.length) throw new CorruptPartialError(digest, `its content file is ${size} bytes, not ${tree.length}`);
    const bitfield = new Uint8Array(bitfieldBytes(tree.groupCount));
    bitfieldFile = await open(path.join(dir, BITFIELD_FILE), writable ? 'r+' : 'r');
    const { bytesRead } = await bitfieldFile.read(bitfield, 0, bitfield.length, 0);
    const fileLen = (await bitfieldFile.stat()).size;
    if (bytesRead !== bitfield.length || fileLen !== bitfield.length) {
      throw new CorruptPartialError(digest, `its bitfield is ${fileLen} bytes, not ${bitfield.length}`);
    }
    const spare = tree.groupCount % 8;
    if (spare !== 0 && bitfield[bitfield.length - 1]! >>> spare !== 0) {
      throw new CorruptPartialError(digest, 'its bitfield has bits set past the last group');
    }
    if (!writable) {
      await bitfieldFile.close();
      bitfieldFile = undefined;
    }
    return { tree, content, bitfieldFile, bitfield };
  } catch (err: unknown) {
    await content?.close().catch(() => undefined);
    await bitfieldFile?.close().catch(() => undefined);
    throw err instanceof CastorError ? err : corrupt(digest, err, 'files');
  }
}

function corrupt(digest: Digest, err: unknown, what: string): Error {
  if (isNotFound(err)) return new CorruptPartialError(digest, `its ${what} is missing`, { cause: err });
  return fsError(err, what, 'reading');
}

function parseMeta(digest: Digest, text: string): { size: number; groupLog: number } {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err: unknown) {
    throw new CorruptPartialError(digest, `its ${META_FILE} is not JSON`, { cause: err });
  }
  const o = m as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || o['format'] !== FORMAT || o['version'] !== VERSION) {
    throw new CorruptPartialError(digest, `its ${META_FILE} is not ${FORMAT} version ${VERSION}`);
  }
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || o['groupLog'] !== BLOB_GROUP_LOG) {
    throw new CorruptPartialError(digest, `its ${META_FILE} has a bad size or group log`);
  }
  return { size, groupLog: BLOB_GROUP_LOG };
}

/** Writes the whole bitfield in place and makes it durable (why in place is safe: see partial-blob.ts, Crash safety). */
export async function writeBitfield(fh: FileHandle, bits: Uint8Array, durable: boolean): Promise<void> {
  for (let at = 0; at < bits.length;) {
    const { bytesWritten } = await fh.write(bits, at, bits.length - at, at);
    at += bytesWritten;
  }
  if (durable) await fh.datasync();
}

/** Removes a partial dir: renamed out of the way first, so no half-removed partial is ever seen. */
export async function removePartial(layout: FsLayout, digest: Digest, durable: boolean): Promise<void> {
  const dir = layout.partialPath(digest);
  const trash = path.join(layout.partial, `${TRASH_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await rename(dir, trash);
  } catch (err: unknown) {
    if (isNotFound(err)) return;
    throw fsError(err, dir, 'removing');
  }
  if (durable) await syncDir(layout.partial);
  await rm(trash, { recursive: true, force: true }).catch(() => undefined);
}

/** Makes sure partial/ exists. */
export async function ensurePartialDir(layout: FsLayout): Promise<void> {
  await ensureDir(layout.partial);
}

/** Digests with a partial dir, in hex order; what killed processes left is swept on the way. */
export async function listPartials(layout: FsLayout): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(layout.partial);
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, layout.partial, 'listing');
  }
  const out: string[] = [];
  for (const name of names) {
    if (HEX_NAME.test(name)) out.push(name);
    else if (isLeftover(name)) await rm(path.join(layout.partial, name), { recursive: true, force: true }).catch(() => undefined);
    else if (/^[0-9a-f]{64}\.new$/.test(name)) await removeStaging(layout, name);
  }
  return out.sort();
}

/** A partial dir never renamed into place: only made under the digest's lock, so removed under it. */
async function removeStaging(layout: FsLayout, name: string): Promise<void> {
  let lock: FileLock;
  try {
    lock = await FileLock.acquire(path.join(layout.partial, name.replace(/\.new$/, '.lock')));
  } catch {
    return; // Being created right now (or the lock is unreadable): not ours to judge.
  }
  try {
    await rm(path.join(layout.partial, name), { recursive: true, force: true });
  } catch { /* left for the next look */ } finally {
    await lock.release();
  }
}

/** What killed processes leave: trash being removed, lock owner files never linked (`<hex>.lock.<pid>-<rand>`). */
function isLeftover(name: string): boolean {
  if (name.startsWith(TRASH_PREFIX)) return !pidAlive(name.slice(TRASH_PREFIX.length));
  const owner = /^[0-9a-f]{64}\.lock(?:\.break)?\.(\d+-[0-9a-f]+)$/.exec(name);
  return owner !== null && !pidAlive(owner[1]!);
}

/** Whether the process named by the `<pid>-...` at the start of `tag` may still run. */
function pidAlive(tag: string): boolean {
  const pid = Number(tag.split('-')[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return errnoOf(err) !== 'ESRCH';
  }
}
