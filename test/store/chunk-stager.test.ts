// The chunk stager's shared batch buffers under writers racing for them: a writer that
// waited for a buffer must not copy into one another writer has partly filled since.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChunkStager, type StageOutcome } from '../../src/store/chunk-stager.js';
import { randomBytes } from './blob-data.js';

test('writers racing for the pooled batch buffers each stage exactly their bytes', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-stager-'));
  const stager = new ChunkStager();
  try {
    // Sizes that leave a batch part-filled when the next writer wakes (3 buffers of 1 MiB).
    const sizes = [300_000, 113_618, 700_000, 450_000, 90_000, 620_000, 257_000, 999_000];
    const writers = 16;
    const perWriter = 16;
    const written = new Map<string, Uint8Array>();
    const outcomes: Promise<StageOutcome>[] = [];
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        const bytes = randomBytes(sizes[(w + i) % sizes.length]!, w * 1000 + i);
        const file = path.join(dir, `w${w}-${i}`);
        written.set(file, bytes);
        const { outcome } = await stager.add({ file, chunkFile: path.join(dir, 'absent'), bytes, sync: false });
        outcomes.push(outcome);
        if (i % 2 === 1) stager.flush();
      }
    }));
    stager.flush();
    assert.deepEqual(new Set(await Promise.all(outcomes)), new Set(['staged']));
    for (const [file, bytes] of written) assert.ok(Buffer.from(bytes).equals(await readFile(file)), file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('publish renames staged files into shard dirs it makes, and names a missing one', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-stager-'));
  const stager = new ChunkStager();
  try {
    const staged = path.join(dir, 'staged');
    const chunks = path.join(dir, 'chunks');
    await mkdir(staged);
    await mkdir(chunks);
    // 600 files: more than one publish message, several into the same shard dir.
    const names = Array.from({ length: 600 }, (_, i) => `${(i % 7).toString(16).padStart(2, '0')}f${i}`);
    for (const n of names) await writeFile(path.join(staged, n), n);
    const moves = names.map((n) => [path.join(staged, n), path.join(chunks, n.slice(0, 2), n.slice(2))] as const);
    const dirs = await stager.publish(moves);
    // Each shard dir was made here, so its parent's entry changed as well.
    assert.deepEqual(new Set(dirs), new Set([chunks, ...names.map((n) => path.join(chunks, n.slice(0, 2)))]));
    for (const [, to] of moves) assert.equal(await readFile(to, 'utf8'), path.basename(path.dirname(to)) + path.basename(to));
    assert.deepEqual(await readdir(staged), []);
    // A staged file that is gone fails the publish with a store error naming it.
    const gone = path.join(staged, 'gone');
    await assert.rejects(stager.publish([[gone, path.join(chunks, '00', 'gone')]]), (err: Error & { code?: string; path?: string }) => {
      assert.equal(err.code, 'STORE_IO');
      assert.equal(err.path, gone);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
