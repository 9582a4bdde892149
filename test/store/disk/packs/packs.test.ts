// gc and fsck on packs of small blobs (pack-rewrite.ts): gc rewrites a pack with dead entries
// into one of the live ones and removes the old pack and its index, keeps young packs and
// packs a live writer may still append to whole, and collects a dead writer's pack; fsck
// counts a torn tail as no entry and reports nothing for it, and only reports a bad entry
// of a pack it may not rewrite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { blake3 } from '../../../../src/verify/blake3/index.js';
import { asDigest, formatDigest, type Digest } from '../../../../src/store/digest.js';
import { openDataDir } from '../../../../src/store/disk/data-dir.js';
import { FastCdcChunker } from '../../../../src/store/chunking/fastcdc.js';
import { fsck, type FsckProblem } from '../../../../src/store/maintenance/fsck.js';
import { gc } from '../../../../src/store/maintenance/gc.js';
import { encodeEntryHead, encodeIndex, ENTRY_HEAD, PACK_MAGIC, readIndex } from '../../../../src/store/disk/packs/pack-format.js';
import { INDEX_SUFFIX, indexPathOf, listPacks, packIndex, PACK_SUFFIX, readPackView, type PackView } from '../../../../src/store/disk/packs/pack-index.js';
import { sealPacks } from '../../../../src/store/disk/packs/pack-writer.js';
import { addPin } from '../../../../src/store/maintenance/pins.js';
import { randomBytes } from '../../blob-data.js';
import { age, ageAll, DEFAULT_CHUNKER, exists, flipByte, HOUR, putBlob, readBlob, withStore, type Store } from '../../store-fixture.js';

const hex = formatDigest;
const enc = new TextEncoder();
/** Larger than any pid Linux hands out (PID_MAX_LIMIT is 2^22): a writer that is surely dead. */
const DEAD_PID = 2 ** 22 + 1;

/** Puts `blobs` through putBytes (each packed); their digests. */
async function putSmall(s: Store, blobs: Uint8Array[]): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const b of blobs) {
    const r = await s.data.blobs.putBytes!(b);
    assert.ok(r.packed !== undefined, 'test set-up: packed');
    out.push(r.digest);
  }
  return out;
}

/** A pinned Directory naming `blobs` as files. */
async function pinFiles(s: Store, blobs: { digest: Digest; size: number }[]): Promise<Digest> {
  const files = blobs.map((b, i) => ({ name: enc.encode(`f${i}`), digest: b.digest, size: BigInt(b.size), executable: false }));
  const dir = await s.data.directories.put({ directories: [], files, symlinks: [] });
  await addPin(s.data.layout, { digest: dir, type: 'directory', label: 'test' });
  return dir;
}

async function agePacks(s: Store, ms: number): Promise<void> {
  for (const p of listPacks(s.data.layout.packs)) await age(p, ms);
}

/** A pack laid out by hand as `<pid>-<thread>-<tag>.pack`, with an optional torn tail; its path. */
async function handPack(s: Store, name: string, blobs: Uint8Array[], tornTail = false): Promise<string> {
  const parts: Uint8Array[] = [PACK_MAGIC];
  for (const b of blobs) parts.push(encodeEntryHead(blake3(b), b.length), b);
  if (tornTail) {
    const b = randomBytes(2_000, 99);
    parts.push(encodeEntryHead(blake3(b), b.length), b.subarray(0, 700));
  }
  const file = path.join(s.data.layout.packs, `${name}${PACK_SUFFIX}`);
  await writeFile(file, Buffer.concat(parts));
  return file;
}

const digestOf = (b: Uint8Array): Digest => asDigest(blake3(b));

async function assertConsistent(s: Store): Promise<void> {
  const problems: string[] = [];
  const r = await fsck(s.data, { onProblem: (p) => problems.push(`${p.kind} ${p.digest}: ${p.detail}`) });
  assert.deepEqual(problems, []);
  assert.equal(r.consistent, true);
}

test('gc rewrites a pack holding live and dead entries: the live still read, the dead are gone, the old pack and index with them', () => withStore(async (s) => {
  const liveBytes = [randomBytes(100, 1), randomBytes(5_000, 2), randomBytes(16_384, 3), randomBytes(1, 4)];
  const deadBytes = [randomBytes(2_000, 5), randomBytes(9_000, 6), randomBytes(300, 7)];
  // Interleaved, so the rewrite has to pick entries out of the middle.
  const order = [deadBytes[0]!, liveBytes[0]!, liveBytes[1]!, deadBytes[1]!, liveBytes[2]!, deadBytes[2]!, liveBytes[3]!];
  await putSmall(s, order);
  const live = liveBytes.map(digestOf);
  const dead = deadBytes.map(digestOf);
  await pinFiles(s, live.map((digest, i) => ({ digest, size: liveBytes[i]!.length })));
  await ageAll(s, 2 * HOUR);
  const [oldPack] = listPacks(s.data.layout.packs);
  assert.equal(listPacks(s.data.layout.packs).length, 1, 'test set-up: one pack');
  await agePacks(s, 2 * HOUR);
  const oldSize = (await stat(oldPack!)).size;
  const deadSize = deadBytes.reduce((n, b) => n + b.length, 0);

  const dry = await gc(s.data, { graceMs: 0, dryRun: true });
  assert.equal(dry.removed.chunks, 3);
  assert.equal(dry.bytesFreed, deadSize);
  assert.equal((await stat(oldPack!)).size, oldSize, 'a dry run changes nothing');
  for (const d of dead) assert.equal(await s.data.blobs.has(d), true);

  const removed: string[] = [];
  const r = await gc(s.data, { graceMs: 0, onRemove: (e) => removed.push(`${e.kind} ${e.digest} ${e.bytes}`) });
  assert.deepEqual(removed.sort(), dead.map((d, i) => `chunk ${hex(d)} ${deadBytes[i]!.length}`).sort());
  assert.equal(r.removed.chunks, 3);
  assert.equal(r.bytesFreed, deadSize);
  assert.equal(r.kept.chunks, 4);
  assert.equal(await exists(oldPack!), false, 'the old pack is gone');
  assert.equal(await exists(oldPack!.replace(/\.pack$/, INDEX_SUFFIX)), false, 'and its index');
  const packs = listPacks(s.data.layout.packs);
  assert.equal(packs.length, 1, 'one new pack');
  const size = (await stat(packs[0]!)).size;
  const idx = readIndex(packs[0]!.replace(/\.pack$/, INDEX_SUFFIX), size);
  assert.ok(idx !== undefined && idx.covered === size, 'the new pack is sealed: its index covers it');
  assert.deepEqual(idx.entries.map((e) => e.hex).sort(), live.map(hex).sort());
  assert.deepEqual((await readFile(packs[0]!)).subarray(0, PACK_MAGIC.length), Buffer.from(PACK_MAGIC));
  for (const [i, d] of live.entries()) assert.deepEqual(await readBlob(s.data, d), liveBytes[i], `live ${hex(d)} reads`);
  for (const d of dead) assert.equal(await s.data.blobs.has(d), false, `dead ${hex(d)} gone`);
  await assertConsistent(s);

  const again = await gc(s.data, { graceMs: 0 });
  assert.deepEqual(again.removed, { blobs: 0, dirs: 0, chunks: 0 }, 'a second gc finds nothing more');
  assert.deepEqual(listPacks(s.data.layout.packs), packs, 'and leaves the new pack alone');
}, DEFAULT_CHUNKER));

test('gc keeps a young pack whole, and one a writer deduplicated against since it was old', () => withStore(async (s) => {
  const liveBytes = randomBytes(4_000, 11);
  const deadBytes = randomBytes(6_000, 12);
  const [live, dead] = await putSmall(s, [liveBytes, deadBytes]);
  await pinFiles(s, [{ digest: live!, size: liveBytes.length }]);
  const [pack] = listPacks(s.data.layout.packs);
  const size = (await stat(pack!)).size;

  const young = await gc(s.data, { graceMs: HOUR });
  assert.equal(young.removed.chunks, 0);
  assert.equal(young.young.chunks, 1, 'the dead entry is counted as kept for being young');
  assert.deepEqual(listPacks(s.data.layout.packs), [pack], 'the pack is not rewritten');
  assert.equal((await stat(pack!)).size, size);
  assert.equal(await s.data.blobs.has(dead!), true);

  // Old now; a put of the same content dedups against the pack, which refreshes its mtime.
  await ageAll(s, 2 * HOUR);
  await agePacks(s, 2 * HOUR);
  assert.equal((await s.data.blobs.putBytes!(deadBytes)).newBytes, 0, 'test set-up: deduplicated');
  const refreshed = await gc(s.data, { graceMs: 60_000 });
  assert.equal(refreshed.removed.chunks, 0);
  assert.deepEqual(listPacks(s.data.layout.packs), [pack]);
  assert.deepEqual(await readBlob(s.data, dead!), deadBytes);
}, DEFAULT_CHUNKER));

test('gc leaves an unsealed pack of a live writer alone, and collects a dead writer\'s pack, torn tail and all', () => withStore(async (s) => {
  await s.data.blobs.putBytes!(randomBytes(10, 20)); // packs/ exists
  const liveWriter = [randomBytes(3_000, 21), randomBytes(4_000, 22)];
  const deadWriter = [randomBytes(5_000, 23), randomBytes(6_000, 24)];
  const livePack = await handPack(s, `${process.pid}-999-aaaaaaaaaaaa`, liveWriter);
  const deadPack = await handPack(s, `${DEAD_PID}-1-bbbbbbbbbbbb`, deadWriter, true);
  const liveBefore = await readFile(livePack);
  // The dead writer's first blob is named by a kept tree; nothing names the rest.
  const named = digestOf(deadWriter[0]!);
  await pinFiles(s, [{ digest: named, size: deadWriter[0]!.length }]);
  await ageAll(s, 2 * HOUR);
  await agePacks(s, 2 * HOUR);

  const removed: string[] = [];
  const r = await gc(s.data, { graceMs: 0, onRemove: (e) => removed.push(e.digest) });
  assert.deepEqual((await readFile(livePack)).equals(liveBefore), true, 'the live writer\'s pack is untouched');
  for (const b of liveWriter) assert.deepEqual(await readBlob(s.data, digestOf(b)), b);
  assert.ok(r.young.chunks >= 2, 'its entries count as kept');
  assert.equal(await exists(deadPack), false, 'the dead writer\'s pack is rewritten');
  assert.ok(removed.includes(hex(digestOf(deadWriter[1]!))));
  assert.equal(await s.data.blobs.has(digestOf(deadWriter[1]!)), false);
  assert.deepEqual(await readBlob(s.data, named), deadWriter[0]);
  assert.ok(!removed.includes(hex(named)));
  await assertConsistent(s);
}, DEFAULT_CHUNKER));

test('gc merges four or more small old packs whose entries are all live into one, and leaves three alone', () => withStore(async (s) => {
  const blobs = Array.from({ length: 5 }, (_, i) => randomBytes(2_000 + i, 50 + i));
  const digests: Digest[] = [];
  for (const b of blobs.slice(0, 3)) {
    digests.push(...await putSmall(s, [b]));
    sealPacks(); // one pack each, as three separate adds would leave
  }
  await pinFiles(s, blobs.slice(0, 3).map((b, i) => ({ digest: digests[i]!, size: b.length })));
  await ageAll(s, 2 * HOUR);
  await agePacks(s, 2 * HOUR);
  await gc(s.data, { graceMs: HOUR });
  assert.equal(listPacks(s.data.layout.packs).length, 3, 'three packs are not worth merging');

  for (const b of blobs.slice(3)) {
    digests.push(...await putSmall(s, [b]));
    sealPacks();
  }
  await pinFiles(s, blobs.map((b, i) => ({ digest: digests[i]!, size: b.length })));
  await ageAll(s, 2 * HOUR);
  await agePacks(s, 2 * HOUR);
  const removed: string[] = [];
  await gc(s.data, { graceMs: HOUR, onRemove: (e) => removed.push(e.digest) });
  const after = listPacks(s.data.layout.packs);
  assert.equal(after.length, 1, 'merged into one');
  assert.deepEqual(removed, [], 'merging removes no blob');
  const idx = readIndex(after[0]!.slice(0, -PACK_SUFFIX.length) + INDEX_SUFFIX, (await stat(after[0]!)).size);
  assert.equal(idx?.entries.length, 5, 'the merged pack has an index covering all of it');
  for (const [i, b] of blobs.entries()) assert.deepEqual(await readBlob(s.data, digests[i]!), b);
  await assertConsistent(s);
}, DEFAULT_CHUNKER));

test('gc removes an old pack index whose pack is gone (a gc stopped between the two), and keeps a young one and every index with its pack', () => withStore(async (s) => {
  await putSmall(s, [randomBytes(2_000, 41)]);
  sealPacks();
  const [pack] = listPacks(s.data.layout.packs);
  const withPack = pack!.slice(0, -PACK_SUFFIX.length) + INDEX_SUFFIX;
  const oldOrphan = path.join(s.data.layout.packs, `${DEAD_PID}-1-cccccccccccc${INDEX_SUFFIX}`);
  const youngOrphan = path.join(s.data.layout.packs, `${DEAD_PID}-1-dddddddddddd${INDEX_SUFFIX}`);
  await writeFile(oldOrphan, encodeIndex(PACK_MAGIC.length, []));
  await writeFile(youngOrphan, encodeIndex(PACK_MAGIC.length, []));
  await age(oldOrphan, 2 * HOUR);
  await gc(s.data, { graceMs: HOUR });
  assert.equal(await exists(oldOrphan), false, 'the old orphan index is removed');
  assert.equal(await exists(youngOrphan), true, 'a young one may be a rewrite publishing its pack next');
  assert.equal(await exists(withPack), true, 'an index with its pack stays');
}, DEFAULT_CHUNKER));

test('fsck on a pack with a torn tail (its writer killed mid-append) reports nothing, and the other entries still read', () => withStore(async (s) => {
  const bytes = [randomBytes(3_000, 31), randomBytes(5_000, 32), randomBytes(8_000, 33)];
  const digests = await putSmall(s, bytes);
  const [pack] = listPacks(s.data.layout.packs);
  // As a writer killed mid-append leaves it: no index, the last entry cut off in its middle.
  sealPacks();
  await unlink(pack!.replace(/\.pack$/, INDEX_SUFFIX));
  const size = (await stat(pack!)).size;
  await truncate(pack!, size - 4_000);

  const problems: FsckProblem[] = [];
  const r = await fsck(s.data, { onProblem: (p) => problems.push(p) });
  assert.deepEqual(problems, []);
  assert.equal(r.consistent, true);
  assert.equal(r.checked.chunks, 2, 'the two whole entries are checked; the torn one is no entry');
  assert.equal(r.quarantined, 0);
  assert.equal((await stat(pack!)).size, size - 4_000, 'the pack is left as it is');
  // A reader that loads the pack afresh (another process) sees the two whole entries only.
  packIndex(s.data.layout).reset();
  assert.deepEqual(await readBlob(s.data, digests[0]!), bytes[0]);
  assert.deepEqual(await readBlob(s.data, digests[1]!), bytes[1]);
  assert.equal(await s.data.blobs.has(digests[2]!), false);
}, DEFAULT_CHUNKER));

test('fsck only reports a bad entry of a pack a live writer may still append to', () => withStore(async (s) => {
  await s.data.blobs.putBytes!(randomBytes(10, 40)); // packs/ exists
  const blobs = [randomBytes(3_000, 41), randomBytes(4_000, 42)];
  const pack = await handPack(s, `${process.pid}-999-cccccccccccc`, blobs);
  await flipByte(pack, PACK_MAGIC.length + ENTRY_HEAD + 100);
  const before = await readFile(pack);

  const problems: FsckProblem[] = [];
  const r = await fsck(s.data, { onProblem: (p) => problems.push(p) });
  assert.deepEqual(problems.map((p) => [p.kind, p.digest, p.code, p.quarantined]), [['chunk', hex(digestOf(blobs[0]!)), 'CORRUPT_CHUNK', undefined]]);
  assert.equal(r.consistent, false);
  assert.equal(r.quarantined, 0);
  assert.ok((await readFile(pack)).equals(before), 'the pack is left as it is');
  assert.deepEqual(await readBlob(s.data, digestOf(blobs[1]!)), blobs[1]);
}, DEFAULT_CHUNKER));

test('fsck takes a pack\'s index and a scan of it together: a garbled entry head loses nothing, a wrong index is rebuilt', () => withStore(async (s) => {
  await s.data.blobs.putBytes!(randomBytes(10, 50)); // packs/ exists
  const blobs = [randomBytes(3_000, 51), randomBytes(4_000, 52), randomBytes(5_000, 53)];
  const offsets = blobs.reduce<number[]>((acc, b, i) => [...acc, i === 0 ? PACK_MAGIC.length + ENTRY_HEAD : acc[i - 1]! + blobs[i - 1]!.length + ENTRY_HEAD], []);
  const index = (shift: number): Uint8Array => encodeIndex(offsets[2]! + blobs[2]!.length, blobs.map((b, i) => ({ digest: blake3(b), offset: offsets[i]! + (i === 1 ? shift : 0), size: b.length - (i === 1 ? shift : 0) })));

  // The size field of the second entry's head garbled: a scan stops there, the index does not.
  const garbled = await handPack(s, `${process.pid}-gc-eeeeeeeeeeee`, blobs);
  await writeFile(garbled.replace(/\.pack$/, INDEX_SUFFIX), index(0));
  await flipByte(garbled, offsets[1]! - ENTRY_HEAD + 1);
  const first = await fsck(s.data, { onProblem: (p) => assert.fail(`${p.digest}: ${p.detail}`) });
  assert.equal(first.checked.chunks, 4, 'every entry the index lists is checked (and the putBytes one)');
  assert.equal(first.consistent, true);
  for (const b of blobs) assert.deepEqual(await readBlob(s.data, digestOf(b)), b);
  await unlink(garbled);
  await unlink(garbled.replace(/\.pack$/, INDEX_SUFFIX));
  packIndex(s.data.layout).reset();

  // An index that points one byte off for the second entry: reads of it fail until fsck rebuilds the pack.
  const wrong = await handPack(s, `${process.pid}-gc-ffffffffffff`, blobs);
  await writeFile(wrong.replace(/\.pack$/, INDEX_SUFFIX), index(1));
  await assert.rejects(readBlob(s.data, digestOf(blobs[1]!)), { code: 'CORRUPT_CHUNK' });
  const second = await fsck(s.data, { onProblem: (p) => assert.fail(`${p.digest}: ${p.detail}`) });
  assert.equal(second.consistent, true);
  assert.equal(await exists(wrong), false, 'the pack was rewritten with a right index');
  for (const b of blobs) assert.deepEqual(await readBlob(s.data, digestOf(b)), b);
}, DEFAULT_CHUNKER));

// Large blobs: the streaming writer appends each new chunk of a blob (up to the chunker's
// largest, 256 KiB here) to this thread's pack, so packs hold chunks records name as well
// as recordless small blobs, and gc must rewrite them by which chunks live records name.

/** The chunks of `blob` as its record lists them, by hex, in order. */
async function chunkHexes(s: Store, blob: Digest): Promise<string[]> {
  return (await s.data.blobs.stat(blob))!.chunks.map((c) => hex(c.digest));
}

/** `view`'s entries that do not hash to their digest (each entry is read back from the pack), as hex. */
async function entriesNotHashingToDigest(view: PackView): Promise<string[]> {
  const bytes = await readFile(view.pack);
  return view.entries.filter((e) => hex(digestOf(bytes.subarray(e.offset, e.offset + e.size))) !== e.hex).map((e) => e.hex);
}

const entryBytes = (entries: readonly { size: number }[]): number => entries.reduce((n, e) => n + ENTRY_HEAD + e.size, 0);

test('gc rewrites a pack holding the chunks of two large blobs, one unpinned: only chunks the live blob names stay (those shared with the dead one too), it reads whole, the dead one is gone, the pack shrinks by the dead chunks', () => withStore(async (s) => {
  // The live blob goes through the tree-hashing thread (sizeHint), the dead one through this
  // thread; the dead one shares its first MiB with the live one, stored once (dedup).
  const liveBytes = randomBytes(8 << 20, 61);
  const w = s.data.blobs.openWriter({ sizeHint: liveBytes.length });
  for (let at = 0; at < liveBytes.length; at += 1 << 20) await w.write(liveBytes.subarray(at, at + (1 << 20)));
  const live = await w.close();
  const deadBytes = new Uint8Array(Buffer.concat([liveBytes.subarray(0, 1 << 20), randomBytes(2 << 20, 62)]));
  const dead = await putBlob(s.data, deadBytes);
  const liveChunks = new Set(await chunkHexes(s, live));
  const deadChunks = new Set(await chunkHexes(s, dead));
  const shared = [...deadChunks].filter((c) => liveChunks.has(c));
  const own = [...deadChunks].filter((c) => !liveChunks.has(c));
  assert.ok(shared.length >= 3 && own.length >= 3, `test set-up: ${shared.length} shared, ${own.length} own chunks`);
  assert.equal(await exists(s.data.layout.chunkPath([...liveChunks][0]!)), false, 'test set-up: no chunk files');

  const packs = listPacks(s.data.layout.packs);
  assert.equal(packs.length, 1, 'test set-up: both blobs\' chunks in one pack');
  const oldPack = packs[0]!;
  const before = readPackView(oldPack)!;
  assert.deepEqual(before.entries.map((e) => e.hex).sort(), [...new Set([...liveChunks, ...deadChunks])].sort(), 'test set-up: each chunk packed once');
  assert.ok(before.entries.some((e) => e.size > 16_384), 'test set-up: entries larger than a small blob');
  const deadRecordBytes = (await stat(s.data.layout.blobPath(dead))).size;
  await addPin(s.data.layout, { digest: live, type: 'blob', label: 'test' });
  await ageAll(s, 2 * HOUR);

  const removed: string[] = [];
  const r = await gc(s.data, { graceMs: 0, onRemove: (e) => removed.push(`${e.kind} ${e.digest}`) });
  const ownEntries = before.entries.filter((e) => own.includes(e.hex));
  const liveEntries = before.entries.filter((e) => liveChunks.has(e.hex));
  assert.deepEqual(removed.sort(), [`blob ${hex(dead)}`, ...own.map((c) => `chunk ${c}`)].sort(), 'the dead record and its own chunks go, nothing else');
  assert.deepEqual(r.removed, { blobs: 1, dirs: 0, chunks: own.length });
  assert.equal(r.bytesFreed, deadRecordBytes + ownEntries.reduce((n, e) => n + e.size, 0));
  assert.equal(r.kept.chunks, liveChunks.size);

  assert.equal(await exists(oldPack), false, 'the old pack is gone');
  assert.equal(await exists(indexPathOf(oldPack)), false, 'and its index');
  const [fresh, ...more] = listPacks(s.data.layout.packs);
  assert.ok(fresh !== undefined && more.length === 0, 'one new pack');
  const after = readPackView(fresh)!;
  assert.equal(after.sealed, true, 'its index covers it');
  assert.deepEqual(after.entries.map((e) => e.hex).sort(), [...liveChunks].sort(), 'it holds exactly the live blob\'s chunks, shared ones among them');
  assert.deepEqual(await entriesNotHashingToDigest(after), [], 'each entry copied whole');
  assert.equal(after.size, PACK_MAGIC.length + entryBytes(liveEntries));
  assert.equal(before.size - after.size, entryBytes(ownEntries), 'bytes on disk drop by the dead chunks\' entries');

  assert.deepEqual(await readBlob(s.data, live), liveBytes, 'the live blob reads whole');
  packIndex(s.data.layout).reset();
  assert.deepEqual(await readBlob(s.data, live), liveBytes, 'and to a reader loading the packs afresh');
  assert.equal(await s.data.blobs.has(dead), false);
  assert.equal(await s.data.blobs.read(dead), undefined);
  await assertConsistent(s);
  assert.deepEqual((await gc(s.data, { graceMs: 0 })).removed, { blobs: 0, dirs: 0, chunks: 0 }, 'a second gc finds nothing more');
  assert.deepEqual(listPacks(s.data.layout.packs), [fresh]);
}, DEFAULT_CHUNKER));

const CHILD = fileURLToPath(new URL('../fs-store-child.js', import.meta.url));
const moduleUrl = (rel: string): string => JSON.stringify(new URL(rel, import.meta.url).href);

/**
 * A child process adding `size` bytes (randomBytes(size, seed)) as one blob, in 64 KiB writes,
 * that kills itself with SIGKILL inside its `killAt`th append to its pack: the entry's head and
 * half its bytes are on disk, as a SIGKILL landing inside that write would leave them. Resolves
 * to the child's pid and the torn chunk's digest (hex) and size.
 */
async function childKilledMidAppend(dir: string, size: number, seed: number, killAt: number): Promise<{ pid: number; torn: string; size: number }> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', `
    import fs from 'node:fs';
    import { syncBuiltinESMExports } from 'node:module';
    import { FsBlobService } from ${moduleUrl('../../../../src/store/disk/fs-blob-service.js')};
    import { randomBytes } from ${moduleUrl('../../blob-data.js')};
    const s = await FsBlobService.open(${JSON.stringify(dir)}, { durable: false });
    const writev = fs.writevSync;
    let appends = 0;
    fs.writevSync = (fd, bufs, pos) => {
      if (++appends === ${killAt}) {
        const [head, bytes] = bufs;
        writev(fd, [head, bytes.subarray(0, bytes.length >> 1)], pos);
        fs.writeSync(1, JSON.stringify({ torn: Buffer.from(head.subarray(4, 36)).toString('hex'), size: bytes.length }) + '\\n');
        process.kill(process.pid, 'SIGKILL');
        for (;;);
      }
      return writev(fd, bufs, pos);
    };
    syncBuiltinESMExports();
    const data = randomBytes(${size}, ${seed});
    const w = s.openWriter();
    for (let at = 0; at < data.length; at += 65536) await w.write(data.subarray(at, at + 65536));
    await w.close();
    fs.writeSync(1, 'closed\\n');
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const [code, signal] = await once(proc, 'exit') as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `test set-up: the child killed itself (exit ${code}, said ${JSON.stringify(out)})`);
  const said = JSON.parse(out.trim()) as { torn: string; size: number };
  return { pid: proc.pid!, ...said };
}

/** The fs-store-child 'slow' writer adding `size` bytes, killed with SIGKILL from here once it has written 4 MiB. */
async function childKilledFromOutside(dir: string, size: number, seed: number): Promise<{ pid: number }> {
  const proc = spawn(process.execPath, [CHILD, 'slow', dir, String(size), String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exit = once(proc, 'exit');
  const lines = createInterface({ input: proc.stdout! });
  for await (const l of lines) {
    if (l === 'wrote 4194304') break;
  }
  proc.kill('SIGKILL');
  const [, signal] = await exit as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', 'test set-up: killed mid-write');
  return { pid: proc.pid! };
}

/** The chunks the default chunker cuts `bytes` into, as hex, in order. */
function chunksOfBytes(bytes: Uint8Array): string[] {
  const c = new FastCdcChunker(DEFAULT_CHUNKER);
  return [...c.push(bytes), ...c.finish()].map((x) => hex(digestOf(x.data)));
}

for (const how of ['inside an append to its pack', 'from outside, at any moment'] as const) {
  test(`a writer of a large blob SIGKILLed mid-write (${how}): no record, every entry its pack holds is a whole chunk, fsck is clean, and gc reclaims the entries once they are old`, { timeout: 30_000 }, async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'castor-packs-kill-'));
    try {
      const size = 16 << 20;
      const seed = how === 'from outside, at any moment' ? 63 : 64;
      const bytes = randomBytes(size, seed);
      const killAt = 20;
      const killed: { pid: number; torn?: string; size?: number } = how === 'from outside, at any moment' ? await childKilledFromOutside(root, size, seed) : await childKilledMidAppend(root, size, seed, killAt);
      const data = await openDataDir(root, { durable: false, chunker: DEFAULT_CHUNKER });
      const s: Store = { data, root, cleanup: async () => undefined };
      packIndex(data.layout).reset();

      // No record is visible: the blob is not there.
      const digest = digestOf(bytes);
      assert.equal(await data.blobs.has(digest), false);
      assert.deepEqual(await readdir(data.layout.blobs).catch(() => []), [], 'no record file');

      // Its one pack, unsealed, holds whole chunks of the blob, in order, as far as the writer got.
      const packs = listPacks(data.layout.packs);
      assert.equal(packs.length, 1);
      const pack = packs[0]!;
      assert.ok(path.basename(pack).startsWith(`${killed.pid}-`), 'the killed writer\'s pack');
      assert.equal(await exists(indexPathOf(pack)), false, 'never sealed');
      const view = readPackView(pack, true)!;
      const want = chunksOfBytes(bytes);
      assert.ok(view.entries.length >= 1 && view.entries.length < want.length, `test set-up: killed part way (${view.entries.length} of ${want.length} chunks)`);
      assert.deepEqual(view.entries.map((e) => e.hex), want.slice(0, view.entries.length), 'each entry is the next chunk of the blob');
      assert.deepEqual(await entriesNotHashingToDigest(view), [], 'no entry holds bytes other than its digest\'s (no partial chunk under a digest)');
      if (killed.torn !== undefined) {
        assert.equal(view.entries.length, killAt - 1, 'the torn append is not an entry');
        assert.equal(killed.torn, want[killAt - 1]);
        assert.equal(view.size - view.scanned, ENTRY_HEAD + (killed.size! >> 1), 'its head and half its bytes are the pack\'s tail');
        assert.ok(!view.entries.some((e) => e.hex === killed.torn));
      }
      const packBytes = view.entries.reduce((n, e) => n + e.size, 0);

      await assertConsistent(s);

      // Young, they stay: a writer publishes its chunks before the record naming them.
      const early = await gc(data, { graceMs: HOUR });
      assert.deepEqual(early.removed, { blobs: 0, dirs: 0, chunks: 0 });
      assert.deepEqual(listPacks(data.layout.packs), [pack]);

      // Old, no record names them: the dead writer's pack goes, torn tail and all.
      await ageAll(s, 2 * HOUR);
      const removed: string[] = [];
      const r = await gc(data, { graceMs: HOUR, onRemove: (e) => removed.push(e.digest) });
      assert.deepEqual(removed, view.entries.map((e) => e.hex));
      assert.deepEqual(r.removed, { blobs: 0, dirs: 0, chunks: view.entries.length });
      assert.equal(r.bytesFreed, packBytes);
      assert.deepEqual(await readdir(data.layout.packs), [], 'no pack or index is left');

      // Added again, the blob is whole.
      assert.equal(hex(await putBlob(data, bytes)), hex(digest));
      assert.deepEqual(await readBlob(data, digest), bytes);
      await assertConsistent(s);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}
