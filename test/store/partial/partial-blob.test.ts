// PartialBlob: downloads kept in the data dir. Outboards refused before anything is
// stored; groups out of order and in pieces complete into the disk store; wrong groups
// refused and not marked; reopen after close; the lock between writers; serving reads
// and slices of held groups checked with the bao decoder; corruption on disk caught.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BytesReader, decode, extractSlice, OutboardSource, outboardOf, sliceSource, StreamReader, type ByteRange } from '../../../src/verify/bao/index.js';
import { CastorError, HashMismatchError } from '../../../src/verify/errors.js';
import { asDigest, type Digest } from '../../../src/store/digest.js';
import { openDataDir, type DataDir } from '../../../src/store/disk/data-dir.js';
import { groupAligned, PartialBlob } from '../../../src/store/partial/partial-blob.js';
import { BITFIELD_FILE, CONTENT_FILE, OUTBOARD_FILE } from '../../../src/store/partial/partial-files.js';
import { clearOutboardCache } from '../../../src/store/partial/outboard-cache.js';
import { collect, randomBytes } from '../blob-data.js';

const KiB = 1024;
const MiB = 1 << 20;
const G = 16 * KiB;

async function dataDir(): Promise<{ data: DataDir; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-partial-'));
  const data = await openDataDir(dir);
  return { data, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function blob(len: number, seed = 1): { bytes: Uint8Array; digest: Digest; outboard: Uint8Array } {
  const bytes = randomBytes(len, seed);
  const ob = outboardOf(bytes, 4);
  return { bytes, digest: asDigest(ob.hash), outboard: ob.outboard };
}

function group(bytes: Uint8Array, i: number): Uint8Array {
  return bytes.subarray(i * G, Math.min(bytes.length, (i + 1) * G));
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (err: unknown) {
    return err instanceof CastorError ? err.code : String(err);
  }
}

/** A deterministic shuffle (so a failing order reproduces). */
function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function readBlob(data: DataDir, digest: Digest): Promise<Uint8Array> {
  const s = await data.blobs.read(digest);
  assert.ok(s, 'blob is in the store');
  return collect(s);
}

test('groups written out of order complete to the right blob in the disk store, for every size shape', async () => {
  const { data, cleanup } = await dataDir();
  try {
    for (const len of [0, 1, G - 1, G, G + 1, 3 * G, 5 * MiB + 12_345]) {
      const b = blob(len, len + 1);
      const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
      assert.equal(p.size, len);
      assert.equal(p.groupCount, Math.max(1, Math.ceil(len / G)));
      assert.equal(p.heldCount, 0);
      assert.deepEqual(p.missingRanges(), [{ start: 0, end: len }]);
      assert.equal(await codeOf(p.complete()), 'PARTIAL_INCOMPLETE');
      for (const i of shuffled(p.groupCount, len + 7)) {
        assert.equal(await p.writeGroup(i, group(b.bytes, i)), true);
        assert.equal(p.has(i), true);
      }
      assert.equal(await p.writeGroup(0, group(b.bytes, 0)), false, 'a held group again is no news');
      assert.deepEqual(p.missingRanges(), []);
      assert.equal(p.isComplete, true);
      const d = await p.complete();
      assert.deepEqual(d, b.digest);
      assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)), `len ${len}`);
      assert.equal(await PartialBlob.resume(data, b.digest), undefined, 'the partial is gone');
    }
    assert.deepEqual(await readdir(data.layout.partial), []);
  } finally {
    await cleanup();
  }
});

test('bytes in arbitrary pieces and runs, several writers at once, complete the blob', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 2 * MiB + 777;
    const b = blob(len, 3);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard, { persistEveryBytes: 256 * KiB });
    // Four streams, each writing its quarter in pieces of odd sizes (crossing group boundaries).
    const quarter = Math.ceil(p.groupCount / 4) * G;
    const writers = [0, 1, 2, 3].map(async (k) => {
      const start = k * quarter;
      const end = Math.min(len, start + quarter);
      let newly = 0;
      for (let pos = start, step = 1000 + 3337 * k; pos < end; pos += step, step = step * 7 % 40_000 + 100) {
        newly += await p.write(pos, b.bytes.subarray(pos, Math.min(end, pos + step)));
      }
      return newly;
    });
    const counts = await Promise.all(writers);
    assert.equal(counts.reduce((a, c) => a + c, 0), p.groupCount);
    assert.deepEqual(await p.complete(), b.digest);
    assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)));
  } finally {
    await cleanup();
  }
});

test('a wrong group is refused and not marked; a piece out of order is refused', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 100_000;
    const b = blob(len, 4);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
    const bad = group(b.bytes, 2).slice();
    bad[100]! ^= 1;
    await assert.rejects(p.writeGroup(2, bad), (e: unknown) => e instanceof HashMismatchError && e.value === 2);
    assert.equal(p.has(2), false);
    // Another group's bytes, and the last group's bytes at a full group's index.
    assert.equal(await codeOf(p.writeGroup(1, group(b.bytes, 0))), 'HASH_MISMATCH');
    assert.equal(await codeOf(p.writeGroup(6, group(b.bytes, 5))), 'INVALID_INPUT');
    assert.equal(await codeOf(() => p.writeGroup(7, group(b.bytes, 6))), 'INVALID_INPUT');
    // A run with a bad group in the middle: the groups before it are kept, it and after are not.
    const run = b.bytes.slice(0, 4 * G);
    run[2 * G + 5]! ^= 0x40;
    await assert.rejects(p.write(0, run), (e: unknown) => e instanceof HashMismatchError && e.value === 2);
    assert.deepEqual([0, 1, 2, 3].map((i) => p.has(i)), [true, true, false, false]);
    // Pieces: a bad group assembled from pieces is refused too; a piece that does not continue is INVALID_INPUT.
    await p.write(3 * G, bad.subarray(0, 5000));
    assert.equal(await codeOf(p.write(3 * G + 6000, b.bytes.subarray(3 * G + 6000, 3 * G + 7000))), 'INVALID_INPUT');
    const badPiece = b.bytes.slice(3 * G + 5000, 4 * G);
    badPiece[0]! ^= 1;
    await assert.rejects(p.write(3 * G + 5000, badPiece), HashMismatchError);
    assert.equal(p.has(3), false);
    assert.equal(await codeOf(() => p.write(len - 10, new Uint8Array(11))), 'INVALID_INPUT');
    await p.close();
    // Nothing unverified is on disk: the content file holds zeros where groups are missing.
    const content = await readFile(path.join(data.layout.partialPath(b.digest), CONTENT_FILE));
    assert.equal(content.length, len);
    assert.ok(content.subarray(2 * G, 4 * G).every((x) => x === 0));
    assert.ok(content.subarray(0, 2 * G).equals(Buffer.from(b.bytes.subarray(0, 2 * G))));
    const again = (await PartialBlob.resume(data, b.digest))!;
    assert.deepEqual(again.heldBitfield(), Uint8Array.of(0b11));
    assert.deepEqual(again.missingRanges(), [{ start: 2 * G, end: len }]);
    await again.abort();
    assert.deepEqual(await readdir(data.layout.partial), []);
  } finally {
    await cleanup();
  }
});

test('begin refuses an outboard that does not verify and stores nothing', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 300_000;
    const b = blob(len, 5);
    const flipped = b.outboard.slice();
    flipped[8 + 64]! ^= 1;
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len, flipped)), 'HASH_MISMATCH');
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len + 1, b.outboard)), 'LENGTH_MISMATCH');
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len, b.outboard.subarray(0, 100))), 'UNEXPECTED_EOF');
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len, Uint8Array.of(...b.outboard, 1))), 'OUTBOARD_SIZE');
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest.subarray(0, 31) as Digest, len, b.outboard)), 'INVALID_DIGEST');
    assert.deepEqual(await readdir(data.layout.root).then((n) => n.includes('partial')), false);
    assert.deepEqual(await PartialBlob.list(data), []);
  } finally {
    await cleanup();
  }
});

test('close and resume keep what was persisted; begin reopens; a second writer gets PARTIAL_BUSY or waits', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 10 * G + 5;
    const b = blob(len, 6);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
    for (const i of [0, 3, 4, 10]) await p.writeGroup(i, group(b.bytes, i));
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len, b.outboard)), 'PARTIAL_BUSY');
    assert.equal(await codeOf(PartialBlob.resume(data, b.digest)), 'PARTIAL_BUSY');
    assert.deepEqual(await PartialBlob.list(data), [b.digest]);
    // A waiting second writer gets it once the first closes.
    const waiting = PartialBlob.resume(data, b.digest, { lockWaitMs: 5000 });
    setTimeout(() => void p.close(), 100);
    const q = (await waiting)!;
    assert.deepEqual(q.heldBitfield(), Uint8Array.of(0b00011001, 0b100));
    assert.deepEqual(q.missingRanges(), [{ start: G, end: 3 * G }, { start: 5 * G, end: 10 * G }]);
    await q.close();
    // begin on an existing partial reopens it, whatever outboard buffer it is given (the same bytes).
    const r = await PartialBlob.begin(data, b.digest, len, b.outboard.slice());
    assert.equal(r.heldCount, 4);
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len, b.outboard)), 'PARTIAL_BUSY');
    await r.close();
    // Another size for the same digest: its outboard cannot verify (shape differs) ...
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len + G, b.outboard)), 'LENGTH_MISMATCH');
    // ... or, with a header claiming another length of the same shape, it does but the partial on disk says otherwise.
    const liar = b.outboard.slice();
    new DataView(liar.buffer).setBigUint64(0, BigInt(len + 100), true);
    assert.equal(await codeOf(PartialBlob.begin(data, b.digest, len + 100, liar)), 'PARTIAL_SIZE_MISMATCH');
    const s = (await PartialBlob.resume(data, b.digest))!;
    for (let i = 0; i < s.groupCount; i++) await s.writeGroup(i, group(b.bytes, i));
    await s.complete();
    assert.equal(await codeOf(s.writeGroup(0, group(b.bytes, 0))), 'PARTIAL_CLOSED');
    assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)));
  } finally {
    await cleanup();
  }
});

async function decodeSlice(slice: Uint8Array, digest: Uint8Array, ranges: readonly ByteRange[]): Promise<Uint8Array> {
  return collect(decode(sliceSource(new BytesReader(slice)), { hash: digest, groupLog: 4, ranges }));
}

test('serving: reads and slices of held groups verify with the bao decoder; missing groups are GROUP_NOT_HELD', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 3 * MiB + 1000;
    const b = blob(len, 7);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
    // Hold groups 0..99 and the final two, not the middle.
    await p.write(0, b.bytes.subarray(0, 100 * G));
    await p.write((p.groupCount - 2) * G, b.bytes.subarray((p.groupCount - 2) * G));
    const held: ByteRange[][] = [
      [{ start: 0, end: 100 * G }],
      [{ start: 5, end: 6 }],
      [{ start: 17_000, end: 500_000 }],
      [{ start: 1000, end: 2000 }, { start: 50 * G + 3, end: 60 * G }, { start: len - 10_000, end: len }],
      [{ start: len, end: len + 10 }],
      [{ start: len - 1, end: len - 1 }],
    ];
    for (const ranges of held) {
      const s = await collect(p.slice(ranges));
      const want = Buffer.concat(ranges.map((r) => b.bytes.subarray(Math.min(r.start, len), Math.min(r.end, len))));
      assert.ok(Buffer.from(await decodeSlice(s, b.digest, ranges)).equals(want), JSON.stringify(ranges));
      if (ranges.length === 1) {
        assert.ok(Buffer.from(await collect(p.read(ranges[0]))).equals(want), `read ${JSON.stringify(ranges)}`);
        assert.equal(p.holds(ranges[0]!), true);
      }
    }
    for (const ranges of [[{ start: 100 * G, end: 100 * G + 1 }], [{ start: 0, end: len }], [{ start: 10, end: 20 }, { start: 2 * MiB, end: 2 * MiB + 1 }]]) {
      assert.equal(await codeOf(() => p.slice(ranges)), 'GROUP_NOT_HELD');
      assert.equal(await codeOf(() => p.read(ranges[ranges.length - 1])), 'GROUP_NOT_HELD');
    }
    assert.equal(p.holds({ start: 99 * G, end: 100 * G + 1 }), false);
    // A peek view (read-only, no lock) serves what was persisted.
    await p.persist();
    const view = (await PartialBlob.peek(data, b.digest))!;
    assert.equal(view.writable, false);
    assert.deepEqual(view.heldBitfield(), p.heldBitfield());
    assert.ok(Buffer.from(await collect(view.read({ start: 0, end: 1000 }))).equals(Buffer.from(b.bytes.subarray(0, 1000))));
    assert.equal(await codeOf(() => view.write(0, group(b.bytes, 0))), 'PARTIAL_CLOSED');
    await p.write(100 * G, group(b.bytes, 100));
    await p.persist();
    await view.refresh();
    assert.equal(view.has(100), true);
    await view.close();
    // The empty blob's slice is its header alone and decodes to nothing.
    const e = blob(0);
    const ep = await PartialBlob.begin(data, e.digest, 0, e.outboard);
    assert.equal(await codeOf(() => ep.slice([{ start: 0, end: 0 }])), 'GROUP_NOT_HELD');
    await ep.write(0, new Uint8Array(0));
    const es = await collect(ep.slice([{ start: 0, end: 10 }]));
    assert.equal(es.length, 8);
    assert.equal((await decodeSlice(es, e.digest, [{ start: 0, end: 10 }])).length, 0);
    await ep.abort();
    await p.abort();
  } finally {
    await cleanup();
  }
});

test('held bytes damaged on disk are caught when served or completed, marked missing, and fetched again', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 20 * G;
    const b = blob(len, 8);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
    await p.write(0, b.bytes);
    await p.close();
    const file = path.join(data.layout.partialPath(b.digest), CONTENT_FILE);
    const content = await readFile(file);
    content[7 * G + 3]! ^= 1;
    await writeFile(file, content);
    const q = (await PartialBlob.resume(data, b.digest))!;
    assert.equal(q.isComplete, true, 'resume trusts the bitfield');
    const got = await collect(q.read({ start: 6 * G, end: 9 * G })).catch((e: unknown) => e);
    assert.equal((got as CastorError).code, 'CORRUPT_PARTIAL');
    assert.equal(q.has(7), false);
    await q.writeGroup(7, group(b.bytes, 7));
    // Now damage group 12 (group 7 as rewritten above stays good).
    content[7 * G + 3]! ^= 1;
    content[12 * G]! ^= 1;
    await writeFile(file, content, { flag: 'r+' });
    // complete() rehashes everything it stores.
    assert.equal(await codeOf(q.complete()), 'CORRUPT_PARTIAL');
    assert.equal(await data.blobs.has(b.digest), false);
    assert.deepEqual(q.missingRanges(), [{ start: 12 * G, end: 13 * G }]);
    for (const r of q.missingRanges()) await q.write(r.start, b.bytes.subarray(r.start, r.end));
    assert.deepEqual(await q.complete(), b.digest);
    assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)));
  } finally {
    await cleanup();
  }
});

test('a corrupt partial on disk: resume says CORRUPT_PARTIAL, begin replaces it, discard removes it', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 5 * G;
    const b = blob(len, 9);
    for (const damage of ['outboard', 'bitfield-length', 'bitfield-spare', 'content-length', 'meta'] as const) {
      const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
      await p.writeGroup(1, group(b.bytes, 1));
      await p.close();
      const dir = data.layout.partialPath(b.digest);
      if (damage === 'outboard') {
        const ob = await readFile(path.join(dir, OUTBOARD_FILE));
        ob[20]! ^= 1;
        await writeFile(path.join(dir, OUTBOARD_FILE), ob);
        // This process has it verified in memory and would not look at the disk again.
        const again = (await PartialBlob.resume(data, b.digest))!;
        assert.equal(again.heldCount, 1);
        await again.close();
        clearOutboardCache();
      } else if (damage === 'bitfield-length') await writeFile(path.join(dir, BITFIELD_FILE), Uint8Array.of(2, 0));
      else if (damage === 'bitfield-spare') await writeFile(path.join(dir, BITFIELD_FILE), Uint8Array.of(0x82));
      else if (damage === 'content-length') await writeFile(path.join(dir, CONTENT_FILE), new Uint8Array(len - 1));
      else await writeFile(path.join(dir, 'meta.json'), '{"format":"castor-partial","version":1,"size":"x"}');
      assert.equal(await codeOf(PartialBlob.resume(data, b.digest)), 'CORRUPT_PARTIAL', damage);
      if (damage === 'meta') {
        await PartialBlob.discard(data, b.digest);
        assert.equal(await PartialBlob.resume(data, b.digest), undefined);
        continue;
      }
      const q = await PartialBlob.begin(data, b.digest, len, b.outboard);
      assert.equal(q.heldCount, 0, `${damage}: replaced by a fresh partial`);
      await q.abort();
    }
  } finally {
    await cleanup();
  }
});

/** A peer's answer: the bao slice of `ranges` from the whole blob, in pieces of `piece` bytes. */
async function* peerSlice(b: { bytes: Uint8Array; outboard: Uint8Array }, ranges: readonly ByteRange[], piece = 5000, mutate?: (s: Uint8Array) => Uint8Array): AsyncGenerator<Uint8Array> {
  const parts: Uint8Array[] = [];
  await extractSlice(new OutboardSource(new BytesReader(b.outboard), new BytesReader(b.bytes)), ranges, (x) => { parts.push(x.slice()); }, 4);
  let s: Uint8Array = new Uint8Array(Buffer.concat(parts));
  if (mutate) s = mutate(s);
  for (let i = 0; i < s.length; i += piece) yield s.subarray(i, i + piece);
}

test('writeSlice: peers\' slices of the missing ranges fill the partial; any range is rounded out to its groups', async () => {
  const { data, cleanup } = await dataDir();
  try {
    for (const len of [0, 1, G, G + 1, 1 * MiB + 4321]) {
      const b = blob(len, 20 + len);
      const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
      // First a range that is not group-aligned, from the middle; then everything missing at once.
      const first = [{ start: Math.floor(len / 2), end: Math.floor(len / 2) + 100 }];
      const got = await p.writeSlice(first, peerSlice(b, first));
      assert.equal(got, 1, `len ${len}`);
      assert.deepEqual(groupAligned(first, len, G).length, 1);
      const missing = p.missingRanges();
      assert.equal(await p.writeSlice(missing, peerSlice(b, missing, 777)), p.groupCount - 1);
      assert.equal(p.isComplete, true);
      assert.deepEqual(await p.complete(), b.digest);
      assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)), `len ${len}`);
    }
  } finally {
    await cleanup();
  }
});

test('writeSlice from a lying peer keeps only the groups verified before the lie', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const len = 40 * G + 99;
    const b = blob(len, 30);
    const p = await PartialBlob.begin(data, b.digest, len, b.outboard);
    const all = [{ start: 0, end: len }];
    // A flipped parent: refused where it starts in the slice, before any group is stored.
    const parentFlip = (s: Uint8Array): Uint8Array => { const c = s.slice(); c[8 + 64 + 3]! ^= 1; return c; };
    const perr = await p.writeSlice(all, peerSlice(b, all, 3000, parentFlip)).catch((e: unknown) => e as HashMismatchError);
    assert.ok(perr instanceof HashMismatchError && perr.offset === 8 + 64, String(perr));
    assert.equal(p.heldCount, 0);
    // A flipped byte inside a group's data: the groups before it are kept.
    const slice = await collect(peerSlice(b, all, 1 << 20));
    const at = slice.length - (len - 17 * G) - 8; // somewhere in the data of a group past 16
    const flippedAt = (s: Uint8Array): Uint8Array => { const c = s.slice(); c[at]! ^= 1; return c; };
    const err = await p.writeSlice(all, peerSlice(b, all, 3000, flippedAt)).catch((e: unknown) => e as CastorError);
    assert.equal((err as CastorError).code, 'HASH_MISMATCH');
    const held = p.heldCount;
    assert.ok(held > 0 && held < p.groupCount);
    for (let i = 0; i < p.groupCount; i++) assert.equal(p.has(i), i < held, `group ${i}`);
    // A slice cut short: what verified is kept, then UNEXPECTED_EOF.
    const rest = p.missingRanges();
    const cut = (s: Uint8Array): Uint8Array => s.subarray(0, s.length - 3 * G);
    assert.equal(await codeOf(p.writeSlice(rest, peerSlice(b, rest, 4096, cut))), 'UNEXPECTED_EOF');
    assert.ok(p.heldCount > held && p.heldCount < p.groupCount);
    // A header claiming another length.
    const relabel = (s: Uint8Array): Uint8Array => { const c = s.slice(); new DataView(c.buffer).setBigUint64(0, BigInt(len + 1), true); return c; };
    const before = p.heldCount;
    assert.equal(await codeOf(p.writeSlice(p.missingRanges(), peerSlice(b, p.missingRanges(), 4096, relabel))), 'LENGTH_MISMATCH');
    assert.equal(p.heldCount, before);
    // The slice of other ranges than asked: refused at the first parent or group that does not fit.
    const other = [{ start: 0, end: G }];
    assert.equal(await codeOf(p.writeSlice(p.missingRanges(), peerSlice(b, other))) !== undefined, true);
    // An honest peer finishes it.
    const m = p.missingRanges();
    await p.writeSlice(m, peerSlice(b, m));
    assert.deepEqual(await p.complete(), b.digest);
    assert.ok(Buffer.from(await readBlob(data, b.digest)).equals(Buffer.from(b.bytes)));
  } finally {
    await cleanup();
  }
});

test('a partial serves its held groups to another partial (two data dirs), which completes from it and a second source', async () => {
  const a = await dataDir();
  const c = await dataDir();
  try {
    const len = 2 * MiB + 3;
    const b = blob(len, 40);
    const pa = await PartialBlob.begin(a.data, b.digest, len, b.outboard);
    // A holds the first half; C fetches that half from A's slice, the rest from the "origin".
    const half = [{ start: 0, end: 64 * G }];
    await pa.write(0, b.bytes.subarray(0, 64 * G));
    const pc = await PartialBlob.begin(c.data, b.digest, len, b.outboard);
    assert.equal(await pc.writeSlice(half, pa.slice(half)), 64);
    // Or through any decoder, with writeDecoded.
    const next = [{ start: 64 * G, end: 80 * G }];
    await pa.write(64 * G, b.bytes.subarray(64 * G, 80 * G));
    const decoded = decode(sliceSource(new StreamReader(pa.slice(next))), { hash: b.digest, groupLog: 4, ranges: next });
    assert.equal(await pc.writeDecoded(next, decoded), 16);
    const rest = pc.missingRanges();
    assert.equal(await pc.writeSlice(rest, peerSlice(b, rest)), pc.groupCount - 80);
    assert.deepEqual(await pc.complete(), b.digest);
    assert.ok(Buffer.from(await readBlob(c.data, b.digest)).equals(Buffer.from(b.bytes)));
    await pa.abort();
  } finally {
    await a.cleanup();
    await c.cleanup();
  }
});

test('the outboard a disk store\'s stat gives (as a peer\'s stat answer would) starts a partial that fills from that store\'s reads', async () => {
  const src = await dataDir();
  const dst = await dataDir();
  try {
    const len = 3 * MiB + 17;
    const b = blob(len, 50);
    const w = src.data.blobs.openWriter();
    for (let pos = 0; pos < len; pos += 100_000) await w.write(b.bytes.subarray(pos, pos + 100_000));
    assert.deepEqual(await w.close(), b.digest);
    const stat = (await src.data.blobs.stat(b.digest))!;
    assert.ok(Buffer.from(stat.outboard).equals(Buffer.from(b.outboard)));
    const p = await PartialBlob.begin(dst.data, b.digest, stat.size, stat.outboard);
    for (const r of [{ start: 2 * MiB, end: len }, { start: 0, end: 2 * MiB }]) {
      let pos = r.start;
      for await (const piece of (await src.data.blobs.read(b.digest, r))!) {
        await p.write(pos, piece);
        pos += piece.length;
      }
    }
    assert.deepEqual(await p.complete(), b.digest);
    assert.ok(Buffer.from(await readBlob(dst.data, b.digest)).equals(Buffer.from(b.bytes)));
  } finally {
    await src.cleanup();
    await dst.cleanup();
  }
});

test('writeVerified stores decoder-verified bytes without a second hash; bytes that were not verified are still caught by complete()', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const b = blob(3 * MiB + 5, 41);
    const good = await PartialBlob.begin(data, b.digest, b.bytes.length, b.outboard);
    assert.equal(await good.writeVerified(0, b.bytes), good.groupCount);
    assert.deepEqual(await good.complete(), b.digest);
    assert.ok(Buffer.from(await collect((await data.blobs.read(b.digest))!)).equals(b.bytes));

    // The contract broken on purpose: a flipped byte handed over as verified.
    const c = blob(2 * MiB, 42);
    const bad = await PartialBlob.begin(data, c.digest, c.bytes.length, c.outboard);
    const lie = c.bytes.slice();
    lie[MiB + 3]! ^= 1;
    await bad.writeVerified(0, lie);
    assert.equal(await codeOf(bad.complete()), 'CORRUPT_PARTIAL');
    assert.equal(await data.blobs.has(c.digest), false);
    await bad.abort();
  } finally {
    await cleanup();
  }
});

test('writes do not wait for a persist\'s content fsync; a persist that failed is reported by the next write, and its groups persist later', async () => {
  const { data, cleanup } = await dataDir();
  try {
    const b = blob(4 * G, 43);
    const p = await PartialBlob.begin(data, b.digest, b.bytes.length, b.outboard, { persistEveryBytes: G });
    // The content fsync held back, then failed, as a disk under load or one failing would.
    const realDatasync = p.content.datasync.bind(p.content);
    let failSync: (err: Error) => void = () => undefined;
    p.content.datasync = () => new Promise<void>((_, reject) => { failSync = reject; });
    // Each write is due a persist: they resolve while the first persist's fsync is still held.
    assert.equal(await p.writeGroup(0, group(b.bytes, 0)), true);
    assert.equal(await p.writeGroup(1, group(b.bytes, 1)), true);
    assert.equal(p.persistedCount, 0, 'nothing persisted while the fsync is held');
    failSync(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await new Promise((resolve) => setImmediate(resolve));
    // The failure reaches the writer once, at its next write; the group of that write is still held.
    assert.notEqual(await codeOf(p.writeGroup(2, group(b.bytes, 2))), undefined);
    assert.equal(p.has(2), true);
    p.content.datasync = realDatasync;
    assert.equal(await p.writeGroup(3, group(b.bytes, 3)), true);
    await p.close();
    const q = (await PartialBlob.resume(data, b.digest))!;
    assert.equal(q.heldCount, 4, 'every group held before close is persisted by it');
    await q.abort();
  } finally {
    await cleanup();
  }
});
