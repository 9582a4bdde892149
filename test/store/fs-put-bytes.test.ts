// The disk store's one-step put gives exactly what the streaming writer gives: the same
// digest, the same record (chunk list and outboard) and the same verified bytes back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir } from '../../src/store/data-dir.js';
import { formatDigest } from '../../src/store/digest.js';
import { readAll } from './blob-service-suite.js';

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
      assert.deepEqual(await a!.blobs.stat(put.digest), await b!.blobs.stat(digest), `record of size ${size}`);
      assert.deepEqual(await readAll(a!.blobs, put.digest), new Uint8Array(data));
      assert.equal((await a!.blobs.putBytes(data)).newBytes, 0, 'a second put stores nothing');
    }
    assert.deepEqual(await readdir(a!.layout.tmp), [], 'no temp files left');
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
