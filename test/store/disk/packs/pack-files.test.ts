// PackFiles: pack files kept open across the chunks of one read, a few idle at most, all
// closed by close().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PACK_FILES_IDLE, PackFiles } from '../../../../src/store/disk/packs/pack-files.js';

test('a pack given back is taken again open; more than the idle bound are closed, oldest first; close() closes the rest', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-pack-files-'));
  try {
    const packs = await Promise.all(Array.from({ length: PACK_FILES_IDLE + 2 }, async (_, i) => {
      const p = path.join(dir, `p${i}.pack`);
      await writeFile(p, `pack ${i}`);
      return p;
    }));
    const files = new PackFiles();
    const a = await files.take(packs[0]!);
    const b = await files.take(packs[0]!);
    assert.notEqual(a, b, 'a pack in use is opened again for a second reader of it');
    await files.give(packs[0]!, a);
    await files.give(packs[0]!, b);
    assert.equal(b.fd, -1, 'a second idle handle on the same pack is closed');
    assert.equal(await files.take(packs[0]!), a);
    await files.give(packs[0]!, a);
    const held = [a];
    for (const p of packs.slice(1)) {
      const fh = await files.take(p);
      held.push(fh);
      await files.give(p, fh);
    }
    // PACK_FILES_IDLE + 2 packs given back: the two oldest were closed.
    assert.deepEqual(held.map((fh) => fh.fd === -1), held.map((_, i) => i < 2));
    await files.close();
    assert.ok(held.every((fh) => fh.fd === -1), 'close() closes every idle handle');
    const late = await files.take(packs[0]!);
    await files.give(packs[0]!, late);
    assert.equal(late.fd, -1, 'a handle given back after close() is closed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
