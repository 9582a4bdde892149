// hashFile on real files, in the calling thread and on workers, against the
// in-memory Hasher: plain and keyed hashes, outboard nodes at G=0 and G=4, and
// failures (a file shorter than claimed, a bad descriptor) that must reject, not hang.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blake3, hashFile, Hasher, keyedHash, keyedMode, toHex } from '../../src/verify/blake3/index.js';
import { closeWorkerPool } from '../../src/verify/blake3/worker-pool.js';
import { outboardFile, outboardOf } from '../../src/verify/bao/encode.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [0, 1, 1024, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 8 * MiB, 37 * MiB + 123];
const KEY = randomBytes(32);

let dir = '';
const files = new Map<number, { path: string; data: Uint8Array }>();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'castor-hash-file-'));
  for (const size of SIZES) {
    const data = randomBytes(size);
    const path = join(dir, `f${size}`);
    writeFileSync(path, data);
    files.set(size, { path, data });
  }
});

after(async () => {
  await closeWorkerPool();
  rmSync(dir, { recursive: true, force: true });
});

async function withFd<T>(path: string, f: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync(path, 'r');
  try {
    return await f(fd);
  } finally {
    closeSync(fd);
  }
}

for (const threads of [1, 2]) {
  describe(`hashFile, threads ${threads}`, () => {
    for (const size of SIZES) {
      test(`${size} bytes: plain, keyed, G=0 and G=4 equal the in-memory hasher`, async () => {
        const { path, data } = files.get(size)!;
        await withFd(path, async (fd) => {
          const plain = await hashFile(fd, size, { threads });
          assert.equal(toHex(plain.hash), toHex(blake3(data)), 'plain');
          assert.equal(plain.length, size);
          assert.equal(plain.nodes, undefined);
          assert.equal(toHex(plain.output.rootBytes(100)), toHex(blake3(data, 100)), 'extended output');

          const keyed = await hashFile(fd, size, { threads, mode: keyedMode(KEY) });
          assert.equal(toHex(keyed.hash), toHex(keyedHash(KEY, data)), 'keyed');

          for (const groupLog of [0, 4]) {
            const want = new Hasher({ groupLog }).update(data).finalize();
            const got = await hashFile(fd, size, { threads, groupLog });
            assert.equal(toHex(got.hash), toHex(want.hash), `G=${groupLog} hash`);
            assert.ok(got.nodes && want.nodes);
            assert.equal(got.nodes.length, want.nodes.length, `G=${groupLog} node bytes`);
            assert.ok(Buffer.from(got.nodes).equals(Buffer.from(want.nodes)), `G=${groupLog} nodes`);
          }
        });
      });
    }

    test('a file shorter than the size claimed is an UNEXPECTED_EOF error', async () => {
      for (const size of [16 * KiB + 1, 8 * MiB]) {
        await withFd(files.get(size)!.path, async (fd) => {
          for (const claimed of [size + 1, size + 5 * MiB]) {
            await assert.rejects(hashFile(fd, claimed, { threads }), { code: 'UNEXPECTED_EOF' }, `${size} as ${claimed}`);
            await assert.rejects(hashFile(fd, claimed, { threads, groupLog: 4 }), { code: 'UNEXPECTED_EOF' });
          }
        });
      }
    });
  });
}

test('progress rises to the size; the outboard of a file equals the in-memory one', async () => {
  const size = 37 * MiB + 123;
  const { path, data } = files.get(size)!;
  await withFd(path, async (fd) => {
    const seen: number[] = [];
    await hashFile(fd, size, { threads: 2, onProgress: (n) => seen.push(n) });
    assert.ok(seen.length > 1);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen.at(-1), size);

    const want = outboardOf(data, 4);
    const got = await outboardFile(fd, size, 4, { threads: 2 });
    assert.equal(toHex(got.hash), toHex(want.hash));
    assert.equal(got.groupLog, 4);
    assert.ok(Buffer.from(got.outboard).equals(Buffer.from(want.outboard)));
  });
});

test('a bad descriptor rejects, and the pool keeps working afterwards', async () => {
  const size = 8 * MiB;
  const { path, data } = files.get(size)!;
  // Far above any open descriptor, so it cannot have been reused meanwhile as a closed one could.
  await assert.rejects(hashFile(1 << 24, size, { threads: 2 }), { code: 'EBADF' });
  await withFd(path, async (good) => {
    assert.equal(toHex((await hashFile(good, size, { threads: 2 })).hash), toHex(blake3(data)));
  });
});
