// BlobService.putFile on the disk store: small files read and stored in one step on two
// threads give exactly what putBytes gives; what is not a small regular file comes back
// undone with the reason (large, not regular, unreadable), and nothing is stored for it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { formatDigest } from '../../../src/store/digest.js';
import { PUT_FILE_LIMIT } from '../../../src/store/disk/put-file.js';
import { readAll } from '../blob-service-suite.js';

async function withDirs(body: (input: string, store: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'castor-putfile-'));
  try {
    await mkdir(path.join(root, 'in'));
    await mkdir(path.join(root, 'store'));
    await body(path.join(root, 'in'), path.join(root, 'store'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('300 files put at once (both threads take part) equal putBytes of the same bytes, and read back', () => withDirs(async (input, store) => {
  const data = await openDataDir(store, { durable: false });
  const files = Array.from({ length: 300 }, (_, i) => randomBytes(i === 0 ? 0 : 1 + ((i * 7919) % 40_000)));
  await Promise.all(files.map((b, i) => writeFile(path.join(input, `f${i}`), b, { mode: i % 2 ? 0o755 : 0o644 })));
  const results = await Promise.all(files.map((_, i) => data.blobs.putFile!(Buffer.from(path.join(input, `f${i}`)))));
  const other = await openDataDir(await mkdtemp(path.join(store, 'x-')), { durable: false });
  for (const [i, r] of results.entries()) {
    assert.ok('digest' in r, `file ${i} stored`);
    assert.equal(r.size, files[i]!.length);
    assert.equal(r.newBytes, files[i]!.length);
    assert.equal((r.mode & 0o100) !== 0, i % 2 === 1, `file ${i} mode`);
    assert.equal(formatDigest(r.digest), formatDigest((await other.blobs.putBytes(files[i]!)).digest));
    assert.deepEqual(await readAll(data.blobs, r.digest), new Uint8Array(files[i]!));
  }
  const again = await data.blobs.putFile!(Buffer.from(path.join(input, 'f5')));
  assert.ok('digest' in again && again.newBytes === 0, 'a second put stores nothing new');
  // Each thread's staging dir stays while the process lives (removed at exit), empty.
  for (const d of await readdir(data.layout.tmp)) assert.deepEqual(await readdir(path.join(data.layout.tmp, d)), [], `no temp files left in ${d}`);
}));

test('what is not a small regular file comes back undone: large, symlink, directory, FIFO, missing', () => withDirs(async (input, store) => {
  const data = await openDataDir(store, { durable: false });
  await writeFile(path.join(input, 'big'), randomBytes(PUT_FILE_LIMIT + 1));
  await symlink('big', path.join(input, 'link'));
  await mkdir(path.join(input, 'dir'));
  execFileSync('mkfifo', [path.join(input, 'fifo')]);
  const put = (name: string) => data.blobs.putFile!(Buffer.from(path.join(input, name)));
  assert.deepEqual(await put('big'), { large: { size: PUT_FILE_LIMIT + 1, mode: (await put('big') as { large: { mode: number } }).large.mode } });
  assert.deepEqual(await put('link'), { notRegular: true }, 'a symlink is never followed');
  assert.deepEqual(await put('dir'), { notRegular: true });
  assert.deepEqual(await put('fifo'), { notRegular: true }, 'a FIFO does not block the put');
  const missing = await put('missing');
  assert.ok('unreadable' in missing && (missing.unreadable as NodeJS.ErrnoException).code === 'ENOENT');
  assert.deepEqual(await readdir(data.layout.chunks), [], 'nothing stored');
}));
