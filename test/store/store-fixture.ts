// A disk store in a fresh temp dir, and what fsck/gc tests do to it: put blobs and trees
// through the real services, list what is on disk, damage files, age them.

import { mkdir, mkdtemp, open, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Directory, directorySize } from '../../src/store/castore/index.js';
import { openDataDir, type DataDir } from '../../src/store/disk/data-dir.js';
import { DEFAULT_CHUNKER, type ChunkerOptions } from '../../src/store/chunking/fastcdc.js';
import { formatDigest, parseDigest, type Digest } from '../../src/store/digest.js';
import { listPacks, packIndex, readPackView } from '../../src/store/disk/packs/pack-index.js';
import { removeIndexOf, rewritePack } from '../../src/store/disk/packs/pack-rewrite.js';
import { sealPacks } from '../../src/store/disk/packs/pack-writer.js';
import { readChunkTable } from '../../src/store/disk/record-file.js';
import { shardEntries } from '../../src/store/fs/shard-walk.js';
import { toHex } from '../../src/verify/blake3/index.js';
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

/**
 * Turns the store into the layout stores had before chunks were packed: every packed chunk
 * a record names becomes a chunk file in chunks/, and packs keep only the blobs kept with
 * no record. For tests of chunk files (damage, gc, fsck), which such stores still have.
 */
export async function unpackChunks(s: Store): Promise<void> {
  const { layout } = s.data;
  const named = new Set<string>();
  for await (const e of shardEntries(layout.blobs, layout.root)) {
    if (e.hex === undefined) continue;
    for (const c of (await readChunkTable(layout, parseDigest(e.hex))) ?? []) named.add(toHex(c.digest));
  }
  sealPacks();
  for (const pack of listPacks(layout.packs)) {
    const view = readPackView(pack);
    if (view === undefined) continue;
    const fh = await open(pack, 'r');
    try {
      for (const e of view.entries) {
        if (!named.has(e.hex)) continue;
        const bytes = new Uint8Array(e.size);
        await fh.read(bytes, 0, e.size, e.offset);
        const file = layout.chunkPath(e.hex);
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, bytes);
      }
    } finally {
      await fh.close();
    }
    await rewritePack(layout, view, (hex) => !named.has(hex));
    await unlink(pack);
    await removeIndexOf(pack);
  }
  packIndex(layout).reset();
}

/**
 * Where chunk `digest` is kept: its chunk file, or its pack and the offset of its bytes
 * there (for damaging a packed chunk in place).
 */
export async function chunkAt(s: Store, digest: Digest | string): Promise<{ file: string; offset: number; size: number }> {
  const { layout } = s.data;
  const hex = typeof digest === 'string' ? digest : toHex(digest);
  sealPacks();
  for (const pack of listPacks(layout.packs)) {
    const e = readPackView(pack)?.entries.find((x) => x.hex === hex);
    if (e !== undefined) return { file: pack, offset: e.offset, size: e.size };
  }
  const file = layout.chunkPath(hex);
  return { file, offset: 0, size: (await stat(file)).size };
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

/** Ages every file under the store's chunks/, packs/, blobs/ and dirs/. */
export async function ageAll(s: Store, ms: number): Promise<void> {
  for (const top of [s.data.layout.chunks, s.data.layout.packs, s.data.layout.blobs, s.data.layout.dirs]) {
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
