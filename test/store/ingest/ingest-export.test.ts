// Ingest and export: generated trees round-trip byte for byte through the memory and
// disk stores with the same digest; export never writes outside OUTPUT; dedup stores a
// small edit as about one chunk (counted in the packs and chunk files).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryBlobService } from '../../../src/store/blobs/memory-blob-service.js';
import { MemoryDirectoryService } from '../../../src/store/directories/memory-directory-service.js';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { ingestPath } from '../../../src/store/ingest/ingest.js';
import { exportNode } from '../../../src/store/ingest/export.js';
import { asDigest, formatDigest } from '../../../src/store/digest.js';
import { directoryDigest, type Directory } from '../../../src/store/castore/index.js';
import type { DirectoryService } from '../../../src/store/directory-service.js';
import { listPacks, readPackView } from '../../../src/store/disk/packs/pack-index.js';
import { assertSameTree, makeAwkwardTree } from '../tree-fixture.js';
import { filesUnder } from '../store-fixture.js';

let tmp: string;
before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-ingest-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('ingest and export', () => {
  it('an awkward tree round-trips exactly, with the same digest in the memory and disk stores', async () => {
    const src = path.join(tmp, 'src');
    const files = await makeAwkwardTree(src);
    const mem = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    const a = await ingestPath(src, mem);
    assert.equal(a.type, 'directory');
    assert.equal(a.files, files);
    const dataDir = path.join(tmp, 'data');
    const disk = await openDataDir(dataDir, { create: true, durable: false });
    const b = await ingestPath(`${src}/`, disk);
    assert.equal(formatDigest(b.digest), formatDigest(a.digest));
    assert.equal(b.size, a.size);
    assert.equal(b.newBytes, b.bytes, 'a first add stores every byte');

    const out = path.join(tmp, 'out');
    const r = await exportNode(b.node, out, disk);
    assert.equal(r.files, files);
    await assertSameTree(out, src);
    // Exec bits are the tree's, not the umask's.
    assert.equal((await stat(path.join(out, 'run.sh'))).mode & 0o777, 0o755);
    assert.equal((await stat(path.join(out, 'hello.txt'))).mode & 0o777, 0o644);

    const again = await ingestPath(src, disk);
    assert.equal(again.newBytes, 0, 'adding the same tree again stores nothing new');
  });

  it('a wide, nested tree (sibling directories ingested at once) gets the digest built from each Directory in order, and exports exactly', async () => {
    const src = path.join(tmp, 'wide');
    for (let a = 0; a < 12; a++) {
      for (let b = 0; b < 5; b++) {
        const d = path.join(src, `a${a}`, `b${b}`);
        await mkdir(d, { recursive: true });
        for (let f = 0; f < 3; f++) await writeFile(path.join(d, `f${f}`), randomBytes(f * 5000 + a + b));
      }
      await writeFile(path.join(src, `a${a}`, 'top'), `top of ${a}`);
    }
    // Past the one-step put's limit: the store hands it back and it is streamed.
    await writeFile(path.join(src, 'a3', 'b2', 'large'), randomBytes((1 << 20) + 12_345));
    const disk = await openDataDir(path.join(tmp, 'wide-data'), { create: true, durable: false });
    const r = await ingestPath(src, disk);
    assert.equal(r.files, 12 * 5 * 3 + 12 + 1);
    // Rebuilt bottom-up here from what the store holds: each Directory lists its entries
    // sorted, whatever order the ingest finished them in.
    const check = async (digest: Uint8Array, dir: string): Promise<void> => {
      const d = (await disk.directories.get(asDigest(digest)))!;
      assert.deepEqual(d.directories.map((e) => Buffer.from(e.name).toString()).concat(d.files.map((e) => Buffer.from(e.name).toString())).sort(), (await readdir(dir)).sort());
      for (const e of d.directories) await check(e.digest, path.join(dir, Buffer.from(e.name).toString()));
    };
    await check(r.digest, src);
    const out = path.join(tmp, 'wide-out');
    await exportNode(r.node, out, disk);
    await assertSameTree(out, src);
    const mem = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    assert.equal(formatDigest((await ingestPath(src, mem)).digest), formatDigest(r.digest), 'the memory store (no putFile) agrees');
  });

  it('a single file is a FileNode; its blob is the file', async () => {
    const f = path.join(tmp, 'single.bin');
    const data = randomBytes(123_457);
    await writeFile(f, data, { mode: 0o755 });
    const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    const r = await ingestPath(f, store);
    assert.equal(r.type, 'file');
    assert.equal(r.size, BigInt(data.length));
    assert.ok('file' in r.node && r.node.file.executable);
    const out = path.join(tmp, 'single.out');
    await exportNode(r.node, out, store);
    assert.deepEqual(await readFile(out), data);
    assert.equal((await stat(out)).mode & 0o777, 0o755);
  });

  it('refuses a FIFO, naming its path, and a symlink given as the root', async () => {
    const dir = path.join(tmp, 'with-fifo');
    await mkdir(dir);
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    await assert.rejects(ingestPath(dir, store), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED_FILE' && e.message.includes(path.join(dir, 'pipe')) && /FIFO/.test(e.message));
    await assert.rejects(ingestPath(path.join(tmp, 'nope'), store), { code: 'INGEST_READ' });
  });

  it('refuses to overwrite OUTPUT unless forced', async () => {
    const f = path.join(tmp, 'small');
    await writeFile(f, 'x');
    const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    const r = await ingestPath(f, store);
    const out = path.join(tmp, 'existing');
    await writeFile(out, 'keep me');
    await assert.rejects(exportNode(r.node, out, store), { code: 'OUTPUT_EXISTS' });
    assert.equal(await readFile(out, 'utf8'), 'keep me', 'refused export leaves OUTPUT as it was');
    await exportNode(r.node, out, { ...store, force: true });
    assert.equal(await readFile(out, 'utf8'), 'x');
  });

  it('a tree whose names would escape OUTPUT is refused and nothing lands outside it', async () => {
    // A DirectoryService that hands out Directories past validation, as a buggy or hostile tier could.
    const evil: Directory = { directories: [], files: [], symlinks: [{ name: Buffer.from('..'), target: Buffer.from('x') }] };
    const slash: Directory = { directories: [], files: [], symlinks: [{ name: Buffer.from('a/../../escaped'), target: Buffer.from('x') }] };
    for (const dir of [evil, slash]) {
      const digest = directoryDigest(dir);
      const lying: DirectoryService = {
        put: async () => digest,
        get: async () => dir,
        getRecursive: async function* () { yield dir; },
      };
      const parent = await mkdtemp(path.join(tmp, 'escape-'));
      const out = path.join(parent, 'out');
      await assert.rejects(
        exportNode({ directory: { name: new Uint8Array(0), digest, size: 1n } }, out, { blobs: new MemoryBlobService(), directories: lying }),
        { code: 'INVALID_DIRECTORY' },
      );
      assert.deepEqual(await readdir(parent), [], 'nothing created next to OUTPUT, and OUTPUT itself removed');
    }
  });

  it('dedup: a few bytes changed in the middle of a file store about one chunk', async () => {
    const dataDir = path.join(tmp, 'dedup');
    const disk = await openDataDir(dataDir, { create: true, durable: false });
    const f = path.join(tmp, 'dedup.bin');
    const data = randomBytes(8 << 20);
    await writeFile(f, data);
    // Chunk bytes kept, wherever: packed (as a streamed blob's are), or as chunk files.
    const chunkBytes = async (): Promise<number> => {
      let n = 0;
      for (const pack of listPacks(disk.layout.packs)) for (const e of readPackView(pack)!.entries) n += e.size;
      for (const file of await filesUnder(disk.layout.chunks)) n += (await stat(path.join(disk.layout.chunks, file))).size;
      return n;
    };
    const first = await ingestPath(f, disk);
    const before = await chunkBytes();
    assert.equal(before, data.length, 'every chunk of random data kept once');
    assert.equal(first.newBytes, data.length);
    data.write('CHANGED', 4 << 20);
    await writeFile(f, data);
    const second = await ingestPath(f, disk);
    const grown = (await chunkBytes()) - before;
    // One or two chunks re-cut around the edit (avg 64 KiB, max 256 KiB), not the 8 MiB file.
    assert.ok(grown > 0 && grown <= 2 * 256 * 1024, `stored ${grown} new bytes for a 7-byte edit`);
    assert.equal(second.newBytes, grown, 'the ingest reports what it stored');
    const out = path.join(tmp, 'dedup.out');
    await exportNode(second.node, out, disk);
    assert.deepEqual(await readFile(out), data);
  });
});
