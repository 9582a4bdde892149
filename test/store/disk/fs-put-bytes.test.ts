// The disk store's one-step put gives exactly what the streaming writer gives: the same
// digest, the same record (chunk list and outboard) and the same verified bytes back. A
// blob of one group left whole is kept as its chunk alone, with no record file (packed,
// pack-format.ts), and still stats, reads, dedups and is served like any other.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { asDigest, formatDigest } from '../../../src/store/digest.js';
import { sealPacks } from '../../../src/store/disk/packs/pack-writer.js';
import { blake3 } from '../../../src/verify/blake3/index.js';
import type { BlobStat } from '../../../src/store/blob-service.js';
import { readAll } from '../blob-service-suite.js';
import { randomBytes as seeded } from '../blob-data.js';

test('putBytes equals writer + close for sizes around the group and chunk bounds', async () => {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(path.join(os.tmpdir(), 'castor-put-'))));
  try {
    const [a, b] = await Promise.all(dirs.map((d) => openDataDir(d, { durable: false })));
    for (const size of [0, 1, 1024, 16 * 1024, 16 * 1024 + 1, 70_000, 600_000, (4 << 20) + 5]) {
      const data = randomBytes(size);
      const put = await a!.blobs.putBytes(data);
      const w = b!.blobs.openWriter();
      await w.write(data);
      const digest = await w.close();
      assert.equal(formatDigest(put.digest), formatDigest(digest), `size ${size}`);
      assert.equal(put.newBytes, size);
      assert.deepEqual(plain(await a!.blobs.stat(put.digest)), plain(await b!.blobs.stat(digest)), `record of size ${size}`);
      const recordless = size > 0 && size <= 16 * 1024;
      assert.equal(await exists(a!.layout.blobPath(put.digest)), !recordless, `record file of size ${size}`);
      assert.equal(await a!.blobs.has(put.digest), true);
      assert.deepEqual(await readAll(a!.blobs, put.digest), new Uint8Array(data));
      assert.equal((await a!.blobs.putBytes(data)).newBytes, 0, 'a second put stores nothing');
    }
    assert.deepEqual(await readdir(a!.layout.tmp), [], 'no temp files left');
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});

test('a blob kept as its chunk alone: packed or a chunk file, has/stat/read agree, and it is gone once its entry or file is', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-put-'));
  try {
    const data = await openDataDir(dir, { durable: false });
    const bytes = randomBytes(5000);
    const { digest, packed } = await data.blobs.putBytes(bytes);
    assert.ok(packed !== undefined, 'packed');
    assert.equal(packed.size, 5000);
    assert.equal(await exists(data.layout.chunkPath(digest)), false, 'no chunk file of its own');
    assert.deepEqual(new Uint8Array((await readFile(packed.pack)).subarray(packed.offset, packed.offset + 5000)), new Uint8Array(bytes), 'the pack entry is the blob');
    assert.equal((await data.blobs.stat(digest))!.size, 5000);
    assert.deepEqual(await readAll(data.blobs, digest, { start: 100, end: 200 }), new Uint8Array(bytes.subarray(100, 200)));
    // A chunk file of one group with no record (as stores before packs kept such blobs) is a blob too.
    const loose = randomBytes(3000);
    const looseDigest = asDigest(blake3(loose));
    await mkdir(path.dirname(data.layout.chunkPath(looseDigest)), { recursive: true });
    await writeFile(data.layout.chunkPath(looseDigest), loose);
    assert.equal(await data.blobs.has(looseDigest), true);
    assert.equal((await data.blobs.stat(looseDigest))!.size, 3000);
    assert.deepEqual(await readAll(data.blobs, looseDigest, { start: 10, end: 20 }), new Uint8Array(loose.subarray(10, 20)));
    // A chunk larger than a group is a piece of some larger blob, never a blob by itself here.
    // Seeded: random content of this size may get a second cut past the 16 KiB minimum.
    const big = seeded(40_000, 1);
    const w = data.blobs.openWriter();
    await w.write(big);
    const bigDigest = await w.close();
    const { chunks } = (await data.blobs.stat(bigDigest))!;
    assert.equal(chunks.length, 1);
    await unlink(data.layout.blobPath(bigDigest));
    assert.equal(await data.blobs.has(bigDigest), false, 'a 40,000-byte chunk with no record is no blob');
    assert.equal(await data.blobs.stat(bigDigest), undefined);
    await unlink(data.layout.chunkPath(looseDigest));
    assert.equal(await data.blobs.has(looseDigest), false);
    assert.equal(await data.blobs.read(looseDigest), undefined);
    // Its pack removed (as gc or fsck in another process would, once its writer sealed it).
    sealPacks();
    await unlink(packed.pack);
    await unlink(packed.pack.replace(/\.pack$/, '.idx'));
    assert.equal(await data.blobs.has(digest), false);
    assert.equal(await data.blobs.stat(digest), undefined);
    assert.equal(await data.blobs.read(digest), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A stat with plain Uint8Arrays (a record read from disk hands out Buffers). */
function plain(st: BlobStat | undefined): unknown {
  if (st === undefined) return undefined;
  return { size: st.size, chunks: st.chunks.map((c) => ({ digest: formatDigest(c.digest), size: c.size })), outboard: Buffer.from(st.outboard).toString('hex') };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}
