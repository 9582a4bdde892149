// Sequential reads of packed chunks: the chunks after the current one in the same pack come
// with one pread, and every byte of them is still verified before it is handed out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { toHex } from '../../../src/verify/blake3/index.js';
import type { ChunkRef } from '../../../src/store/blob-service.js';
import { FsBlobService } from '../../../src/store/disk/fs-blob-service.js';
import type { ChunkHandle, PackFiles } from '../../../src/store/disk/packs/index.js';
import type { DataDir } from '../../../src/store/disk/data-dir.js';
import { put, readAll } from '../blob-service-suite.js';
import { randomBytes, SMALL_CHUNKS } from '../blob-data.js';
import { chunkAt, type Store } from '../store-fixture.js';

/** Counts chunks opened. */
class CountingFsBlobService extends FsBlobService {
  opened = 0;
  protected override openChunkFile(chunk: ChunkRef, packs?: PackFiles): Promise<ChunkHandle> {
    this.opened++;
    return super.openChunkFile(chunk, packs);
  }
}

async function withStore(body: (s: CountingFsBlobService) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-run-read-'));
  try {
    await body(await CountingFsBlobService.open(dir, { durable: false, chunker: SMALL_CHUNKS }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fixtureOf(s: FsBlobService): Store {
  return { data: { layout: s.layout } as DataDir, root: s.layout.root, cleanup: async () => undefined };
}

test('a whole read of a packed blob opens a few of its chunks, not each, and comes back exact', () => withStore(async (s) => {
  const data = randomBytes(3 << 20, 51);
  const d = await put(s, data);
  const { chunks } = (await s.stat(d))!;
  s.opened = 0;
  assert.ok(Buffer.from(await readAll(s, d)).equals(Buffer.from(data)));
  assert.ok(s.opened > 0 && s.opened <= chunks.length / 10, `${s.opened} of ${chunks.length} chunks opened`);
  // A range still reads right from anywhere, across runs.
  for (const [a, b] of [[1, 2_000_000], [1_500_000, 3 << 20], [777_777, 777_778]] as const) {
    assert.ok(Buffer.from(await readAll(s, d, { start: a, end: b })).equals(Buffer.from(data.subarray(a, b))), `range ${a}..${b}`);
  }
}));

test('a byte flipped in a chunk read with the one before it: CORRUPT_CHUNK naming it, and no byte of its group handed out', () => withStore(async (s) => {
  const data = randomBytes(1 << 20, 52);
  const d = await put(s, data);
  const { chunks } = (await s.stat(d))!;
  const k = 5;
  const at = await chunkAt(fixtureOf(s), chunks[k]!.digest);
  const fh = await open(at.file, 'r+');
  try {
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, at.offset + 3);
    b[0] ^= 1;
    await fh.write(b, 0, 1, at.offset + 3);
  } finally {
    await fh.close();
  }
  const start = chunks.slice(0, k).reduce((n, c) => n + c.size, 0);
  const parts: Uint8Array[] = [];
  await assert.rejects(async () => {
    for await (const p of (await s.read(d))!) parts.push(p);
  }, { code: 'CORRUPT_CHUNK', value: toHex(chunks[k]!.digest) });
  const got = Buffer.concat(parts);
  const group = Math.floor((start + 3) / 16384) * 16384;
  assert.ok(got.length <= group, `${got.length} bytes handed out, the bad byte's group starts at ${group}`);
  assert.ok(got.equals(Buffer.from(data.subarray(0, got.length))));
}));
