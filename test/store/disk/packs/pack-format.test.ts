// Packs of small blobs (src/store/pack-*.ts): what a scan counts and what it must not, the
// index taken only when it is sane, and packs written by another process found by a store
// that had already loaded its index.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blake3, toHex } from '../../../../src/verify/blake3/index.js';
import { FsBlobService } from '../../../../src/store/disk/fs-blob-service.js';
import { FsLayout } from '../../../../src/store/fs/fs-layout.js';
import { bloomHas, bloomProbes, encodeEntryHead, encodeIndex, encodeIndex2, ENTRY_HEAD, ENTRY_MAX, findInIndex, PACK_MAGIC, readIndex, readIndexSummary, scanPack } from '../../../../src/store/disk/packs/pack-format.js';
import { indexPathOf, listPacks, PackIndex } from '../../../../src/store/disk/packs/pack-index.js';
import { sealPacks } from '../../../../src/store/disk/packs/pack-writer.js';
import { asDigest } from '../../../../src/store/digest.js';
import { collect, randomBytes } from '../../blob-data.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'castor-pack-'));
}

/** Runs `body` in a child process with the disk store in `dir` open as `s`. */
function inChildStore(dir: string, body: string): void {
  execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { FsBlobService } from ${JSON.stringify(new URL('../../../../src/store/disk/fs-blob-service.js', import.meta.url).href)};
    const s = await FsBlobService.open(${JSON.stringify(dir)}, { durable: false });
    ${body}
  `]);
}

/** A pack file of `blobs`, as a writer lays it out; resolves to the data offset of each. */
function writePack(file: string, blobs: Uint8Array[]): number[] {
  const parts: Uint8Array[] = [PACK_MAGIC];
  const offsets: number[] = [];
  let at = PACK_MAGIC.length;
  for (const b of blobs) {
    parts.push(encodeEntryHead(blake3(b), b.length), b);
    offsets.push(at + ENTRY_HEAD);
    at += ENTRY_HEAD + b.length;
  }
  writeFileSync(file, Buffer.concat(parts));
  return offsets;
}

function scan(file: string): ReturnType<typeof scanPack> {
  const fd = openSync(file, 'r');
  try {
    return scanPack(fd, 0, statSync(file).size);
  } finally {
    closeSync(fd);
  }
}

const blobs = [randomBytes(1, 1), randomBytes(5000, 2), randomBytes(16384, 3), randomBytes(700, 4)];

test('a scan finds every whole entry and stops before a torn or garbled one', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'a.pack');
    const offsets = writePack(file, blobs);
    const whole = scan(file);
    assert.deepEqual(whole.entries.map((e) => [e.hex, e.offset, e.size]), blobs.map((b, i) => [toHex(blake3(b)), offsets[i], b.length]));
    assert.equal(whole.stop, statSync(file).size);

    // A writer killed mid-append: the last entry's bytes run past the end of the file.
    for (const cut of [1, ENTRY_HEAD - 1, ENTRY_HEAD + 10, ENTRY_HEAD + 699]) {
      const full = readFileSync(file);
      const torn = path.join(dir, `torn-${cut}.pack`);
      writeFileSync(torn, full.subarray(0, offsets[3]! - ENTRY_HEAD + cut));
      const r = scan(torn);
      assert.equal(r.entries.length, 3, `cut ${cut}`);
      assert.equal(r.stop, offsets[3]! - ENTRY_HEAD);
    }

    // A header whose check does not match is not an entry, nor is anything after it.
    const garbled = readFileSync(file);
    garbled[offsets[1]! - ENTRY_HEAD + 10]! ^= 1;
    writeFileSync(file, garbled);
    assert.equal(scan(file).entries.length, 1);

    // Not a pack at all.
    writeFileSync(file, 'not a pack, just text that is long enough to hold a header or two........');
    assert.deepEqual(scan(file), { entries: [], stop: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an index is taken only when it is whole and fits its pack', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'a.pack');
    const offsets = writePack(file, blobs);
    const size = statSync(file).size;
    const entries = blobs.map((b, i) => ({ digest: blake3(b), offset: offsets[i]!, size: b.length }));
    const idx = path.join(dir, 'a.idx');
    writeFileSync(idx, encodeIndex(size, entries));
    const r = readIndex(idx, size);
    assert.equal(r?.covered, size);
    assert.deepEqual(r?.entries.map((e) => e.hex), blobs.map((b) => toHex(blake3(b))));

    assert.equal(readIndex(idx, size - 1), undefined, 'covers more than the pack holds');
    writeFileSync(idx, encodeIndex(size, [entries[1]!, entries[0]!]));
    assert.equal(readIndex(idx, size), undefined, 'entries out of order');
    writeFileSync(idx, encodeIndex(size, entries).subarray(0, 16 + 44 * 2 + 7));
    assert.equal(readIndex(idx, size), undefined, 'cut short');
    const bad = encodeIndex(size, entries);
    bad[0] ^= 1;
    writeFileSync(idx, bad);
    assert.equal(readIndex(idx, size), undefined, 'bad magic');
    assert.equal(readIndex(path.join(dir, 'none.idx'), size), undefined, 'absent');

    // An index covering a prefix: the rest is found by scanning.
    writeFileSync(idx, encodeIndex(offsets[2]! - ENTRY_HEAD, entries.slice(0, 2)));
    const packs = path.join(dir, 'packs');
    execFileSync('mkdir', [packs]);
    execFileSync('mv', [file, idx, packs]);
    const index = new PackIndex(packs);
    for (const b of blobs) assert.equal(index.lookup(toHex(blake3(b)))?.size, b.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('small blobs are packed (no chunk file each), read back whole, and deduplicated', async () => {
  const dir = await tempDir();
  try {
    const s = await FsBlobService.open(dir, { durable: false });
    const results = [];
    for (const b of blobs) results.push(await s.putBytes(b));
    assert.deepEqual(results.map((r) => r.newBytes), blobs.map((b) => b.length));
    for (const [i, b] of blobs.entries()) {
      assert.equal(toHex(results[i]!.digest), toHex(blake3(b)));
      assert.deepEqual(await collect((await s.read(results[i]!.digest))!), b);
      assert.equal((await s.stat(results[i]!.digest))?.size, b.length);
    }
    assert.deepEqual(readdirSync(path.join(dir, 'chunks')), [], 'no chunk file for a packed blob');
    assert.equal((await s.putBytes(blobs[1]!)).newBytes, 0, 'stored once');
    // A range inside one.
    assert.deepEqual(await collect((await s.read(results[1]!.digest, { start: 100, end: 2100 }))!), blobs[1]!.subarray(100, 2100));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('blobs packed by another process are found by a store whose index was already loaded', async () => {
  const dir = await tempDir();
  try {
    const s = await FsBlobService.open(dir, { durable: false });
    const mine = await s.putBytes(randomBytes(3000, 77));
    assert.ok(await s.has(mine.digest));
    const theirs = [randomBytes(4000, 78), randomBytes(9000, 79)];
    inChildStore(dir, `
      const n = ${JSON.stringify(theirs.map((b) => Buffer.from(b).toString('base64')))};
      for (const b of n) await s.putBytes(new Uint8Array(Buffer.from(b, 'base64')));
    `);
    for (const b of theirs) {
      const d = asDigest(blake3(b));
      assert.ok(await s.has(d));
      assert.deepEqual(await collect((await s.read(d))!), b);
    }
    // Its pack was sealed at exit: an index beside it.
    const packs = listPacks(new FsLayout(dir).packs);
    sealPacks();
    assert.ok(packs.length >= 2);
    for (const p of listPacks(new FsLayout(dir).packs)) assert.ok(statSync(indexPathOf(p)).size > 16, `${p} has an index`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a pack whose entry was cut off by a killed writer still serves its whole entries', async () => {
  const dir = await tempDir();
  try {
    try {
      inChildStore(dir, `
        for (let i = 1; i <= 5; i++) await s.putBytes(new Uint8Array(1000 * i).fill(i));
        process.kill(process.pid, 'SIGKILL');
      `);
    } catch { /* killed, as meant */ }
    const [pack] = listPacks(new FsLayout(dir).packs);
    assert.ok(pack !== undefined);
    assert.throws(() => statSync(indexPathOf(pack)), { code: 'ENOENT' }, 'killed before sealing');
    truncateSync(pack, statSync(pack).size - 10);
    const s = await FsBlobService.open(dir, { durable: false });
    for (let i = 1; i <= 4; i++) {
      const b = new Uint8Array(1000 * i).fill(i);
      assert.deepEqual(await collect((await s.read(asDigest(blake3(b))))!), b);
    }
    assert.equal(await s.has(asDigest(blake3(new Uint8Array(5000).fill(5)))), false, 'the torn entry is not a blob');
    // Stored again, it is whole.
    const again = await s.putBytes(new Uint8Array(5000).fill(5));
    assert.equal(again.newBytes, 5000);
    assert.deepEqual(await collect((await s.read(again.digest))!), new Uint8Array(5000).fill(5));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('entries of any chunk size up to ENTRY_MAX scan and index like small ones; an entry of ENTRY_MAX + 1 stops a scan and voids an index', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'big.pack');
    // Sizes around the scan's 1 MiB read block: entries larger than it, and heads that
    // straddle its end (256 KiB is the default chunker's largest chunk; ENTRY_MAX the largest any cuts).
    const big = [randomBytes(256 << 10, 11), randomBytes(300_001, 12), randomBytes((1 << 20) + 7, 13), randomBytes(17, 14), randomBytes(ENTRY_MAX, 15), randomBytes(5_000, 16)];
    const offsets = writePack(file, big);
    const size = statSync(file).size;
    const want = big.map((b, i) => [toHex(blake3(b)), offsets[i], b.length]);
    const r = scan(file);
    assert.deepEqual(r.entries.map((e) => [e.hex, e.offset, e.size]), want, 'a scan finds every entry where it is');
    assert.equal(r.stop, size);
    // Each offset is where that entry's bytes are.
    const bytes = readFileSync(file);
    for (const e of r.entries) assert.equal(toHex(blake3(bytes.subarray(e.offset, e.offset + e.size))), e.hex);

    const idx = path.join(dir, 'big.idx');
    const entries = big.map((b, i) => ({ digest: blake3(b), offset: offsets[i]!, size: b.length }));
    writeFileSync(idx, encodeIndex(size, entries));
    assert.deepEqual(readIndex(idx, size)?.entries.map((e) => [e.hex, e.offset, e.size]), want, 'an index lists them the same');

    // One byte more than ENTRY_MAX, with a head whose check is right and all its bytes there:
    // not an entry, and nothing after it is.
    const over = randomBytes(ENTRY_MAX + 1, 17);
    const tail = randomBytes(100, 18);
    writeFileSync(file, Buffer.concat([bytes, encodeEntryHead(blake3(over), over.length), over, encodeEntryHead(blake3(tail), tail.length), tail]));
    const overSize = statSync(file).size;
    const cut = scan(file);
    assert.deepEqual(cut.entries.map((e) => [e.hex, e.offset, e.size]), want);
    assert.equal(cut.stop, size, 'the scan stops at the oversized head');
    writeFileSync(idx, encodeIndex(overSize, [...entries, { digest: blake3(over), offset: size + ENTRY_HEAD, size: over.length }]));
    assert.equal(readIndex(idx, overSize), undefined, 'an index listing an entry over ENTRY_MAX is not taken');
    writeFileSync(idx, encodeIndex(overSize, entries));
    assert.equal(readIndex(idx, overSize)?.entries.length, big.length, 'the same index without it is');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a version 2 index: read whole it lists the entries in pack order; asked by digest it finds each one and nothing else; a damaged one is refused', async () => {
  const dir = await tempDir();
  try {
    const many = Array.from({ length: 600 }, (_, i) => randomBytes(100 + (i % 50), 1000 + i));
    const file = path.join(dir, 'b.pack');
    const offsets = writePack(file, many);
    const size = statSync(file).size;
    const entries = many.map((b, i) => ({ digest: blake3(b), offset: offsets[i]!, size: b.length }));
    const idx = path.join(dir, 'b.idx');
    // Given in any order: written sorted by digest.
    writeFileSync(idx, encodeIndex2(size, [...entries].reverse()));
    assert.deepEqual(readIndex(idx, size)?.entries.map((e) => [e.hex, e.offset, e.size]), entries.map((e) => [toHex(e.digest), e.offset, e.size]), 'read whole: the entries in pack order');

    const summary = readIndexSummary(idx, size)!;
    assert.equal(summary.count, many.length);
    for (const e of entries) assert.deepEqual(findInIndex(idx, summary, e.digest), { offset: e.offset, size: e.size });
    let filterSaidMaybe = 0;
    for (let i = 0; i < 2000; i++) {
      const absent = blake3(randomBytes(8, 5000 + i));
      if (bloomHas(summary.bloom, bloomProbes(absent))) filterSaidMaybe++;
      assert.equal(findInIndex(idx, summary, absent), undefined);
    }
    // 10 to 20 bits an entry, 7 probes: under 1% (about 0.8% at 10 bits) say maybe.
    assert.ok(filterSaidMaybe < 40, `${filterSaidMaybe} of 2000 absent digests passed the filter`);

    assert.equal(readIndexSummary(idx, size - 1), undefined, 'covers more than the pack holds');
    const good = encodeIndex2(size, entries);
    writeFileSync(idx, good.subarray(0, good.length - 1));
    assert.equal(readIndexSummary(idx, size), undefined, 'cut short');
    assert.equal(readIndex(idx, size), undefined, 'cut short, read whole');
    const badFanout = good.slice();
    badFanout[24 + 4 * 255] ^= 1;
    writeFileSync(idx, badFanout);
    assert.equal(readIndexSummary(idx, size), undefined, 'fanout does not end at the count');
    const overlapping = encodeIndex2(size, entries.map((e, i) => (i === 7 ? { ...e, offset: e.offset - 3 } : e)));
    writeFileSync(idx, overlapping);
    assert.equal(readIndex(idx, size), undefined, 'entries overlap, read whole');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sealed packs are held by their index\'s filter and fanout, not entry by entry, and every chunk is still found', async () => {
  const dir = await tempDir();
  try {
    const s = await FsBlobService.open(dir, { chunker: { min: 1024, avg: 4096, max: 16384, normalization: 1 }, durable: false });
    const data = randomBytes(3 << 20, 77);
    const w = s.openWriter();
    await w.write(data);
    const digest = await w.close();
    sealPacks();
    const index = new PackIndex(s.layout.packs);
    const chunks = (await s.stat(digest))!.chunks;
    assert.ok(chunks.length > 300, `${chunks.length} chunks`);
    assert.equal(index.peek('00'.repeat(32)), undefined);
    assert.equal(index.held, 0, 'loaded: no entry held in the map');
    for (const c of chunks) assert.equal(index.peek(toHex(c.digest))?.size, c.size);
    assert.ok(index.held <= chunks.length, 'only the entries asked for are kept');
    assert.deepEqual(Buffer.from(await collect((await s.read(digest))!)), Buffer.from(data));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a version 2 index is trusted only as far as it checks: entries out of digest order, out of their bucket or missing from the filter void it; a wrong offset is not taken; a removed index leaves its pack scanned', async () => {
  const dir = await tempDir();
  try {
    const packs = path.join(dir, 'packs');
    execFileSync('mkdir', [packs]);
    const many = Array.from({ length: 300 }, (_, i) => randomBytes(200 + i, 3000 + i));
    const file = path.join(packs, '1-0-a.pack');
    const offsets = writePack(file, many);
    const size = statSync(file).size;
    const entries = many.map((b, i) => ({ digest: blake3(b), offset: offsets[i]!, size: b.length }));
    const idx = indexPathOf(file);
    const good = encodeIndex2(size, entries);
    const entriesAt = good.length - entries.length * 44;

    const swapped = good.slice();
    swapped.copyWithin(entriesAt, entriesAt + 44, entriesAt + 88);
    swapped.set(good.subarray(entriesAt, entriesAt + 44), entriesAt + 44);
    writeFileSync(idx, swapped);
    assert.equal(readIndex(idx, size), undefined, 'two entries out of digest order');
    const noFilter = good.slice();
    noFilter.fill(0, 24 + 1024, entriesAt);
    writeFileSync(idx, noFilter);
    assert.equal(readIndex(idx, size), undefined, 'entries missing from the filter');

    // An entry whose offset is wrong (its digest kept): not taken, so dedup stores the chunk again.
    const shifted = encodeIndex2(size, entries.map((e, i) => (i === 5 ? { ...e, offset: offsets[6]! } : e)));
    writeFileSync(idx, shifted);
    assert.equal(new PackIndex(packs).lookup(toHex(entries[5]!.digest)), undefined, 'the pack\'s own head there names another chunk');

    // The index removed while the pack stays (a gc that put the pack back): a process that
    // held the pack by its filter takes it entry by entry, and still finds every chunk.
    writeFileSync(idx, good);
    const index = new PackIndex(packs);
    assert.equal(index.lookup(toHex(entries[0]!.digest))?.offset, offsets[0]);
    execFileSync('rm', [idx]);
    for (const e of entries) assert.equal(index.lookup(toHex(e.digest))?.offset, e.offset);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
