// What a stored record is read through. The file reader (the outboard's) gives exactly the file's bytes
// for any mix of reads and skips, and a walk down one path of a large outboard (what a
// range read does) reads a few pages of it, not the whole. The chunk table made without an
// object per chunk agrees with the list it stands for, and refuses the same bad tables.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { FileReader } from '../../../src/verify/bao/index.js';
import { ChunkTable, TABLE_ENTRY_LEN } from '../../../src/store/disk/chunk-table.js';
import { asDigest } from '../../../src/store/digest.js';
import { randomBytes as seeded } from '../blob-data.js';

const BASE = 1000;
const OUTBOARD = (4 << 20) + 123;

async function withFile(f: (file: string, bytes: Uint8Array) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-readers-'));
  try {
    const bytes = seeded(BASE + OUTBOARD, 7);
    const file = path.join(dir, 'record');
    await writeFile(file, bytes);
    await f(file, bytes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the file reader returns the file from its base for any reads and skips, and fails past the end', async () => {
  await withFile(async (file, bytes) => {
    const fh = await open(file, 'r');
    try {
      const op = fc.tuple(fc.boolean(), fc.nat(300_000));
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const r = new FileReader(fh, BASE, BASE + OUTBOARD);
        for (const [isRead, n] of ops) {
          const at = r.position;
          if (!isRead) {
            await r.skip(n);
            continue;
          }
          if (at + n > OUTBOARD) {
            await assert.rejects(r.read(n), { code: 'UNEXPECTED_EOF' });
            return;
          }
          assert.deepEqual(await r.read(n), bytes.subarray(BASE + at, BASE + at + n));
          assert.equal(r.position, at + n);
        }
      }), { numRuns: 60 });
    } finally {
      await fh.close();
    }
  });
});

test('a walk down one path of a 4 MiB outboard reads a few pages; a whole read reads it once', async () => {
  await withFile(async (file) => {
    const fh = await open(file, 'r');
    let readBytes = 0;
    const counting = new Proxy(fh, {
      get(target, prop) {
        if (prop === 'read') {
          return async (buf: Uint8Array, off: number, len: number, pos: number) => {
            const r = await target.read(buf, off, len, pos);
            readBytes += r.bytesRead;
            return r;
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    try {
      // A path like a range read's: a parent, then a skip of half of what is left, down 16 levels.
      const r = new FileReader(counting, BASE, BASE + OUTBOARD);
      for (let level = 0; level < 16; level++) {
        await r.read(64);
        await r.skip(Math.floor((OUTBOARD - r.position) / 2));
      }
      assert.ok(readBytes <= 16 * 4096, `path read ${readBytes} bytes`);

      readBytes = 0;
      const whole = new FileReader(counting, BASE, BASE + OUTBOARD);
      for (let at = 0; at < OUTBOARD; at += 64) await whole.read(Math.min(64, OUTBOARD - at));
      // The read-ahead window past the last read stops at the record's end.
      assert.equal(readBytes, OUTBOARD);
    } finally {
      await fh.close();
    }
  });
});

function tableBytes(sizes: readonly number[]): { bytes: Uint8Array; digests: Uint8Array[] } {
  const bytes = new Uint8Array(sizes.length * TABLE_ENTRY_LEN);
  const view = new DataView(bytes.buffer);
  const digests = sizes.map((_, i) => seeded(32, 100 + i));
  sizes.forEach((n, i) => {
    bytes.set(digests[i]!, i * TABLE_ENTRY_LEN);
    view.setUint32(i * TABLE_ENTRY_LEN + 32, n, true);
  });
  return { bytes, digests };
}

test('a chunk table agrees with its list: refs, starts, and which chunk holds an offset', () => {
  const blob = asDigest(new Uint8Array(32));
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 60 }), (sizes) => {
    const { bytes, digests } = tableBytes(sizes);
    const size = sizes.reduce((a, b) => a + b, 0);
    const t = ChunkTable.decode(blob, size, sizes.length, bytes);
    const fromList = ChunkTable.of(sizes.map((n, i) => ({ digest: asDigest(digests[i]!), size: n })));
    assert.equal(t.count, sizes.length);
    assert.equal(t.size, size);
    assert.deepEqual(t.list().map((c) => [Buffer.from(c.digest).toString('hex'), c.size]), sizes.map((n, i) => [Buffer.from(digests[i]!).toString('hex'), n]));
    let start = 0;
    for (let i = 0; i < sizes.length; i++) {
      assert.equal(t.start(i), start);
      assert.equal(t.chunkAt(start), i);
      assert.equal(t.chunkAt(start + sizes[i]! - 1), i);
      assert.equal(fromList.chunkAt(start), i);
      assert.deepEqual(t.ref(i).digest, digests[i]);
      start += sizes[i]!;
    }
    // Kept digests do not change when the record's buffer is reused.
    const first = t.ref(0).digest.slice();
    bytes.fill(0);
    assert.deepEqual(t.ref(0).digest, first);
  }), { numRuns: 100 });
});

test('a chunk table with a chunk of size 0, or sizes that do not add up, is a corrupt record', () => {
  const blob = asDigest(new Uint8Array(32));
  assert.throws(() => ChunkTable.decode(blob, 10, 2, tableBytes([10, 0]).bytes), { code: 'CORRUPT_RECORD', message: /chunk 1 has size 0/ });
  assert.throws(() => ChunkTable.decode(blob, 11, 2, tableBytes([5, 5]).bytes), { code: 'CORRUPT_RECORD', message: /add up to 10, not the size 11/ });
});
