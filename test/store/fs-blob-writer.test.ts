// FsBlobWriter's pipeline: chunks staged concurrently while the caller reuses its buffers,
// a durable blob of many chunks made durable by one syncfs (or, without `sync -f`, by an
// fsync each), newBytes, and a staging failure that surfaces after its write resolved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blake3, toHex } from '../../src/verify/blake3/index.js';
import type { Digest } from '../../src/store/blob-service.js';
import { asDigest } from '../../src/store/digest.js';
import { FsBlobService, type FsBlobServiceOptions } from '../../src/store/fs-blob-service.js';
import type { FsBlobWriter } from '../../src/store/fs-blob-writer.js';
import { checkStored } from './blob-service-suite.js';
import { randomBytes, SMALL_CHUNKS } from './blob-data.js';

async function withStore(options: FsBlobServiceOptions, body: (s: FsBlobService) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-fs-writer-'));
  try {
    await body(await FsBlobService.open(dir, options));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `data` through one scratch buffer of `piece` bytes, scribbled over as soon as each write resolves. */
async function putReusing(s: FsBlobService, data: Uint8Array, piece: number): Promise<{ digest: Digest; newBytes: number | undefined }> {
  const w = s.openWriter() as FsBlobWriter;
  const scratch = new Uint8Array(piece);
  for (let pos = 0; pos < data.length; pos += piece) {
    const n = Math.min(piece, data.length - pos);
    scratch.set(data.subarray(pos, pos + n));
    await w.write(scratch.subarray(0, n));
    scratch.fill(0xa5);
  }
  const digest = await w.close();
  return { digest, newBytes: w.newBytes };
}

for (const durable of [true, false]) {
  test(`many chunks in flight (durable: ${durable}): buffers reused at once, blob whole, newBytes, dedup`, () => withStore({ chunker: SMALL_CHUNKS, durable }, async (s) => {
    // About 1500 chunks of 4 KiB: past the per-chunk fsync limit, so a durable close syncs the file system.
    const data = randomBytes(6 << 20, 61);
    const first = await putReusing(s, data, 1 << 20);
    assert.equal(toHex(first.digest), toHex(blake3(data)));
    await checkStored(s, first.digest, data);
    assert.equal(first.newBytes, data.length, 'random data: every chunk new');
    const again = await putReusing(s, data, 100_000);
    assert.equal(toHex(again.digest), toHex(first.digest));
    assert.equal(again.newBytes, 0, 'every chunk already stored');
    assert.deepEqual(await readdir(s.layout.tmp), []);
  }));
}

test('without a usable `sync -f` a durable writer fsyncs each file instead', () => withStore({ chunker: SMALL_CHUNKS }, async (s) => {
  const saved = process.env.PATH;
  process.env.PATH = path.join(s.layout.root, 'no-such-bin');
  try {
    const data = randomBytes(3 << 20, 62);
    const { digest, newBytes } = await putReusing(s, data, 1 << 20);
    await checkStored(s, digest, data);
    assert.equal(newBytes, data.length);
  } finally {
    process.env.PATH = saved;
  }
  assert.deepEqual(await readdir(s.layout.tmp), []);
}));

test('a chunk that fails to stage after its write resolved fails close: nothing published, nothing left', () => withStore({ chunker: SMALL_CHUNKS, durable: false }, async (s) => {
  const data = randomBytes(4 << 20, 63);
  const w = s.openWriter();
  await w.write(data.subarray(0, 1 << 20));
  const [staging] = await readdir(s.layout.tmp);
  assert.ok(staging, 'the staging dir exists once data was taken');
  // Pulled away under the writer: staging the next chunks (or renaming the first) fails.
  await rm(path.join(s.layout.tmp, staging), { recursive: true, force: true, maxRetries: 5 });
  let failure: unknown;
  try {
    await w.write(data.subarray(1 << 20));
    await w.close();
  } catch (err: unknown) {
    failure = err;
  }
  assert.ok(failure instanceof Error && 'code' in failure, `a typed store error, got ${String(failure)}`);
  await assert.rejects(w.close(), { code: 'WRITER_CLOSED' });
  assert.equal(await s.has(asDigest(blake3(data))), false);
  assert.deepEqual(await readdir(s.layout.tmp), []);
  assert.deepEqual(await readdir(s.layout.blobs), []);
}));
