// A disk store in a fresh temp dir, and what fsck/gc tests do to it: put blobs and trees
// through the real services, list what is on disk, damage files, age them.

import { mkdtemp, open, readdir, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Directory, directorySize } from '../../src/store/castore/index.js';
import { openDataDir, type DataDir } from '../../src/store/data-dir.js';
import { DEFAULT_CHUNKER, type ChunkerOptions } from '../../src/store/fastcdc.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { collect, SMALL_CHUNKS } from './blob-data.js';

export interface Store {
  data: DataDir;
  root: string;
  cleanup(): Promise<void>;
}

/** A store with small chunks (1/4/16 KiB) unless told otherwise, so a few hundred KiB make dozens of chunks. */
export async function tempStore(chunker: ChunkerOptions = SMALL_CHUNKS): Promise<Store> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'castor-store-'));
  const data = await openDataDir(root, { durable: false, chunker });
  return { data, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function withStore(body: (s: Store) => Promise<void>, chunker?: ChunkerOptions): Promise<void> {
  const s = await tempStore(chunker);
  try {
    await body(s);
  } finally {
    await s.cleanup();
  }
}

export async function putBlob(data: DataDir, bytes: Uint8Array): Promise<Digest> {
  const w = data.blobs.openWriter();
  for (let at = 0; at < bytes.length; at += 50_000) await w.write(bytes.subarray(at, at + 50_000));
  return w.close();
}

/** The whole verified content of a blob; throws if it is not there or does not verify. */
export async function readBlob(data: DataDir, digest: Digest): Promise<Uint8Array> {
  const s = await data.blobs.read(digest);
  if (s === undefined) throw new Error(`blob ${formatDigest(digest)} is not in the store`);
  return collect(s);
}

/** A tree to store: names map to file contents or to sub-trees. */
export interface TreeSpec {
  [name: string]: Uint8Array | TreeSpec;
}

export interface PutTree {
  digest: Digest;
  size: bigint;
  /** Every Directory digest in the tree, root first. */
  dirs: Digest[];
  /** Every file's blob digest with its content. */
  files: { digest: Digest; bytes: Uint8Array }[];
}

const enc = new TextEncoder();

/** Stores the blobs, then the Directories bottom-up, as an ingest would. */
export async function putTree(data: DataDir, spec: TreeSpec): Promise<PutTree> {
  const dirs: Digest[] = [];
  const files: PutTree['files'] = [];
  const names = Object.keys(spec).sort((a, b) => Buffer.compare(enc.encode(a), enc.encode(b)));
  const directories = [];
  const fileNodes = [];
  for (const name of names) {
    const v = spec[name]!;
    if (v instanceof Uint8Array) {
      const digest = await putBlob(data, v);
      files.push({ digest, bytes: v });
      fileNodes.push({ name: enc.encode(name), digest, size: BigInt(v.length), executable: false });
    } else {
      const sub = await putTree(data, v);
      dirs.push(...sub.dirs);
      files.push(...sub.files);
      directories.push({ name: enc.encode(name), digest: sub.digest, size: sub.size });
    }
  }
  const dir: Directory = { directories, files: fileNodes, symlinks: [] };
  const digest = await data.directories.put(dir);
  return { digest, size: directorySize(dir), dirs: [digest, ...dirs], files };
}

/** Every regular file under `dir`, as paths relative to it, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name))).sort();
}

/** Flips one bit of the byte at `at` (default: the middle) of `file`. */
export async function flipByte(file: string, at?: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const pos = at ?? Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, pos);
    b[0]! ^= 0x10;
    await fh.write(b, 0, 1, pos);
  } finally {
    await fh.close();
  }
}

/** Sets the mtime (and atime) of `file` to `ms` milliseconds ago. */
export async function age(file: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await utimes(file, t, t);
}

/** Ages every file under the store's chunks/, blobs/ and dirs/. */
export async function ageAll(s: Store, ms: number): Promise<void> {
  for (const top of [s.data.layout.chunks, s.data.layout.blobs, s.data.layout.dirs]) {
    for (const f of await filesUnder(top)) await age(path.join(top, f), ms);
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export const HOUR = 3_600_000;
export { DEFAULT_CHUNKER };
