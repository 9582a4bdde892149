// gc: what roots keep stays whole and readable (every Directory, blob and chunk), what
// nothing keeps goes (and only after the grace period), chunks shared with a kept blob
// survive, a dry run changes nothing, and damage stops gc before it deletes anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { blake3 } from '../../../src/verify/blake3/index.js';
import { EMPTY_DIRECTORY } from '../../../src/store/castore/index.js';
import { asDigest, formatDigest, type Digest } from '../../../src/store/digest.js';
import { fsck } from '../../../src/store/maintenance/fsck.js';
import { gc, type GcSummary } from '../../../src/store/maintenance/gc.js';
import { addPin } from '../../../src/store/maintenance/pins.js';
import { TrustStore } from '../../../src/store/trust/trust-store.js';
import { generateKeyPair } from '../../../src/verify/keys.js';
import { randomBytes } from '../blob-data.js';
import { listPacks, readPackView } from '../../../src/store/disk/packs/pack-index.js';
import { age, ageAll, DEFAULT_CHUNKER, exists, filesUnder, flipByte, HOUR, putBlob, putTree, readBlob, unpackChunks, withStore, type PutTree, type Store } from '../store-fixture.js';

const hex = formatDigest;

async function pin(s: Store, digest: Digest, type: 'blob' | 'directory' = 'directory'): Promise<void> {
  await addPin(s.data.layout, { digest, type, label: 'test' });
}

async function chunksOf(s: Store, blob: Digest): Promise<string[]> {
  return (await s.data.blobs.stat(blob))!.chunks.map((c) => hex(c.digest));
}

/** Every Directory, blob and chunk of the tree is there, and every blob reads back verified. */
async function assertWhole(s: Store, t: PutTree): Promise<void> {
  const walked = [];
  for await (const d of s.data.directories.getRecursive(t.digest)) walked.push(d);
  assert.equal(walked.length, new Set(t.dirs.map(hex)).size, 'every Directory of the tree is there');
  for (const f of t.files) assert.deepEqual(await readBlob(s.data, f.digest), f.bytes, `blob ${hex(f.digest)} reads back`);
}

/** Every chunk held in packs/, as readers see the packs (index, then a scan of the rest): one hex per entry, sorted. */
function packedChunks(s: Store): string[] {
  return listPacks(s.data.layout.packs).flatMap((p) => readPackView(p)?.entries.map((e) => e.hex) ?? []).sort();
}

/** Ages every pack in packs/. */
async function agePacks(s: Store, ms: number): Promise<void> {
  for (const f of await filesUnder(s.data.layout.packs)) await age(path.join(s.data.layout.packs, f), ms);
}

async function assertConsistent(s: Store): Promise<void> {
  const problems: string[] = [];
  const r = await fsck(s.data, { onProblem: (p) => problems.push(`${p.kind} ${p.digest}: ${p.detail}`) });
  assert.deepEqual(problems, []);
  assert.equal(r.consistent, true);
}

test('gc keeps pinned trees and blobs whole, removes the unpinned, and leaves the store consistent', () => withStore(async (s) => {
  const kept = await putTree(s.data, { a: randomBytes(40_000, 1), sub: { b: randomBytes(9_000, 2), deeper: { c: randomBytes(100, 3) } }, empty: {} });
  const gone = await putTree(s.data, { x: randomBytes(30_000, 4), sub: { y: randomBytes(5_000, 5) } });
  const keptBlobBytes = randomBytes(25_000, 6);
  const keptBlob = await putBlob(s.data, keptBlobBytes);
  const goneBlob = await putBlob(s.data, randomBytes(12_000, 7));
  await pin(s, kept.digest);
  await pin(s, keptBlob, 'blob');
  await ageAll(s, 2 * HOUR);

  const r = await gc(s.data, { graceMs: 0 });
  await assertWhole(s, kept);
  assert.deepEqual(await readBlob(s.data, keptBlob), keptBlobBytes);
  for (const d of gone.dirs) assert.equal(await s.data.directories.get(d), undefined, `directory ${hex(d)} removed`);
  for (const f of [...gone.files.map((x) => x.digest), goneBlob]) assert.equal(await s.data.blobs.has(f), false, `blob ${hex(f)} removed`);

  // The packs hold exactly the chunks of the kept blobs, each once; there are no chunk files.
  const keptBlobs = [...kept.files.map((f) => f.digest), keptBlob];
  const want = new Set<string>();
  for (const b of keptBlobs) for (const c of await chunksOf(s, b)) want.add(c);
  assert.deepEqual(packedChunks(s), [...want].sort());
  assert.deepEqual(await filesUnder(s.data.layout.chunks), []);

  assert.equal(r.roots, 2);
  assert.equal(r.missingRoots, 0);
  assert.deepEqual(r.removed, { blobs: gone.files.length + 1, dirs: gone.dirs.length, chunks: r.removed.chunks });
  assert.ok(r.removed.chunks > 0 && r.bytesFreed > 30_000 + 5_000 + 12_000);
  assert.deepEqual(r.kept, { blobs: keptBlobs.length, dirs: new Set(kept.dirs.map(hex)).size, chunks: want.size });
  await assertConsistent(s);

  const again = await gc(s.data, { graceMs: 0 });
  assert.deepEqual(again.removed, { blobs: 0, dirs: 0, chunks: 0 }, 'a second gc finds nothing more');
}));

/**
 * Two blobs sharing chunks, one pinned: after gc the shared chunks and the kept blob's own are
 * still held (`held`: where the test looks, packs or chunk files), the removed blob's own are not.
 */
async function sharedChunksCase(s: Store, layout: 'packed' | 'chunk files', held: (s: Store) => Promise<Set<string>>): Promise<void> {
  const body = randomBytes(200_000, 10);
  const keptBlob = await putBlob(s.data, body);
  const goneBytes = new Uint8Array(Buffer.concat([body.subarray(0, 120_000), randomBytes(60_000, 11)]));
  const goneBlob = await putBlob(s.data, goneBytes);
  if (layout === 'chunk files') await unpackChunks(s);
  const keptChunks = new Set(await chunksOf(s, keptBlob));
  const goneChunks = await chunksOf(s, goneBlob);
  const shared = goneChunks.filter((c) => keptChunks.has(c));
  const own = goneChunks.filter((c) => !keptChunks.has(c));
  assert.ok(shared.length > 3 && own.length > 3, `test set-up: ${shared.length} shared, ${own.length} own chunks`);
  const before = await held(s);
  for (const c of [...keptChunks, ...goneChunks]) assert.ok(before.has(c), `test set-up: chunk ${c} held ${layout}`);
  await pin(s, keptBlob, 'blob');
  await ageAll(s, 2 * HOUR);

  const removed: string[] = [];
  await gc(s.data, { graceMs: 0, onRemove: (e) => { if (e.kind === 'chunk') removed.push(e.digest); } });
  assert.equal(await s.data.blobs.has(goneBlob), false);
  assert.deepEqual(await readBlob(s.data, keptBlob), body);
  const after = await held(s);
  for (const c of keptChunks) assert.ok(after.has(c), `kept blob's chunk ${c} kept (${shared.includes(c) ? 'shared' : 'its own'})`);
  for (const c of own) assert.equal(after.has(c), false, `own chunk ${c} removed`);
  assert.deepEqual(removed.sort(), [...new Set(own)].sort(), 'gc says it removed exactly the removed blob\'s own chunks');
  await assertConsistent(s);
}

test('chunks shared by a kept and a removed blob survive; the removed blob\'s own chunks go', () => withStore(async (s) => {
  await sharedChunksCase(s, 'packed', async (x) => new Set(packedChunks(x)));
  assert.deepEqual(await filesUnder(s.data.layout.chunks), [], 'no chunk files were made');
}));

test('chunks shared by a kept and a removed blob survive; the removed blob\'s own chunks go: a store of chunk files (before packs)', () => withStore(async (s) => {
  await sharedChunksCase(s, 'chunk files', async (x) => new Set((await filesUnder(x.data.layout.chunks)).map((f) => f.replace('/', ''))));
  assert.deepEqual(packedChunks(s), [], 'no chunk was packed again');
}));

test('the grace period: nothing younger than it goes, and a young Directory keeps the old tree below it', () => withStore(async (s) => {
  const oldTree = await putTree(s.data, { f: randomBytes(10_000, 20), sub: { g: randomBytes(3_000, 21) } });
  const oldBlob = await putBlob(s.data, randomBytes(8_000, 22));
  const oldBlobChunks = await chunksOf(s, oldBlob);
  await ageAll(s, 2 * HOUR);
  // Fresh content: a Directory naming the old tree (as an add that reused it would put).
  const young = await putTree(s.data, { fresh: randomBytes(4_000, 23) });
  const enc = new TextEncoder();
  const top = await s.data.directories.put({
    directories: [{ name: enc.encode('old'), digest: oldTree.digest, size: oldTree.size }],
    files: [],
    symlinks: [],
  });

  const recordsBefore = await filesUnder(s.data.layout.blobs);
  const withDefault = await gc(s.data);
  assert.deepEqual(withDefault.removed, { blobs: 1, dirs: 0, chunks: 0 }, 'only the old unreferenced blob\'s record goes');
  assert.equal(await exists(s.data.layout.blobPath(oldBlob)), false, 'its record is removed');
  // Its one chunk shares the pack the young content was appended to: a young pack is kept
  // whole (a writer may have deduplicated against any entry of it). The chunk goes with the
  // pack's next rewrite once it is old (below).
  for (const c of oldBlobChunks) assert.ok(packedChunks(s).includes(c), `its chunk ${c} stays in the young pack`);
  assert.ok(withDefault.young.dirs >= 2, 'the young Directories were kept as young');
  await assertWhole(s, oldTree);
  await assertWhole(s, young);
  assert.ok(await s.data.directories.get(top));
  assert.equal((await filesUnder(s.data.layout.blobs)).length, recordsBefore.length - 1, 'one record fewer, no other');

  // Once everything is old and unpinned, all of it goes.
  await ageAll(s, 2 * HOUR);
  const later = await gc(s.data, { graceMs: HOUR });
  assert.equal(later.removed.dirs, 4);
  assert.equal(await s.data.blobs.has(oldBlob), false, 'the old blob\'s chunk went with the pack\'s rewrite');
  assert.deepEqual(packedChunks(s), [], 'no pack entry is left');
  assert.deepEqual(listPacks(s.data.layout.packs), [], 'a pack with no live entry is removed, not rewritten empty');
  assert.deepEqual(await filesUnder(s.data.layout.chunks), []);
  assert.deepEqual(await filesUnder(s.data.layout.blobs), []);
  assert.deepEqual(await filesUnder(s.data.layout.dirs), []);
}));

test('a young record keeps its chunks, old as they may be (a writer that deduplicated against them)', () => withStore(async (s) => {
  const bytes = randomBytes(60_000, 30);
  const d = await putBlob(s.data, bytes);
  await ageAll(s, 2 * HOUR);
  await age(s.data.layout.blobPath(d), 0);
  const r = await gc(s.data, { graceMs: HOUR });
  assert.deepEqual(r.removed, { blobs: 0, dirs: 0, chunks: 0 });
  assert.deepEqual(await readBlob(s.data, d), bytes);
}));

test('dry run: counts what would go and removes nothing; the real run then removes exactly that', () => withStore(async (s) => {
  const kept = await putTree(s.data, { a: randomBytes(20_000, 40) });
  await putTree(s.data, { b: randomBytes(20_000, 41), c: { d: randomBytes(500, 42) } });
  await putBlob(s.data, randomBytes(7_000, 43));
  await pin(s, kept.digest);
  await ageAll(s, 2 * HOUR);
  const before = await filesUnder(s.root);
  const listed: string[] = [];
  const dry = await gc(s.data, { graceMs: 0, dryRun: true, onRemove: (e) => listed.push(`${e.kind} ${e.digest}`) });
  assert.equal(dry.dryRun, true);
  assert.deepEqual(await filesUnder(s.root), before, 'not one file changed');
  assert.deepEqual({ ...dry.removed }, { blobs: 3, dirs: 2, chunks: dry.removed.chunks });
  assert.equal(listed.length, dry.removed.blobs + dry.removed.dirs + dry.removed.chunks);
  const real = await gc(s.data, { graceMs: 0 });
  const strip = (r: GcSummary) => ({ removed: r.removed, bytesFreed: r.bytesFreed, kept: r.kept });
  assert.deepEqual(strip(real), strip(dry));
  await assertWhole(s, kept);
}));

test('roots: a pin naming nothing stored counts as missing; the empty digest keeps both the empty Directory and the empty blob', () => withStore(async (s) => {
  const emptyDir = await s.data.directories.put(EMPTY_DIRECTORY);
  const emptyBlob = await putBlob(s.data, new Uint8Array(0));
  assert.equal(hex(emptyDir), hex(emptyBlob), 'BLAKE3("") names both');
  await pin(s, emptyDir);
  await pin(s, asDigest(blake3(new Uint8Array([9]))), 'blob');
  await ageAll(s, 2 * HOUR);
  const r = await gc(s.data, { graceMs: 0 });
  assert.equal(r.roots, 2);
  assert.equal(r.missingRoots, 1);
  assert.ok(await s.data.directories.get(emptyDir));
  assert.deepEqual(await readBlob(s.data, emptyBlob), new Uint8Array(0));
}));

test('explicit roots replace pins and signed roots', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(5_000, 50));
  const b = await putBlob(s.data, randomBytes(5_000, 51));
  await pin(s, a, 'blob');
  await ageAll(s, 2 * HOUR);
  await gc(s.data, { graceMs: 0, roots: [b] });
  assert.equal(await s.data.blobs.has(a), false);
  assert.ok(await s.data.blobs.has(b));
}));

test('damage under a root stops gc before it removes anything', () => withStore(async (s) => {
  const t = await putTree(s.data, { a: randomBytes(10_000, 60), sub: { b: randomBytes(10_000, 61) } });
  await putBlob(s.data, randomBytes(10_000, 62));
  await pin(s, t.digest);
  await ageAll(s, 2 * HOUR);

  await truncate(s.data.layout.blobPath(t.files[0]!.digest), 10);
  const before = await filesUnder(s.root);
  await assert.rejects(gc(s.data, { graceMs: 0 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'GC_ABORTED');
    assert.match(err.message, new RegExp(hex(t.files[0]!.digest)));
    assert.match(err.message, /fsck/);
    return true;
  });
  assert.deepEqual(await filesUnder(s.root), before);

  await fsck(s.data);
  await flipByte(s.data.layout.dirPath(t.dirs[1]!), 2);
  const before2 = await filesUnder(s.root);
  await assert.rejects(gc(s.data, { graceMs: 0 }), { code: 'GC_ABORTED' });
  assert.deepEqual(await filesUnder(s.root), before2);
}));

test('gc leaves no trash behind in tmp/', () => withStore(async (s) => {
  await putTree(s.data, { a: randomBytes(10_000, 70), b: { c: randomBytes(100, 71) } });
  await ageAll(s, 2 * HOUR);
  const r = await gc(s.data, { graceMs: 0 });
  assert.ok(r.removed.dirs === 2 && r.removed.blobs === 2);
  assert.deepEqual(await filesUnder(s.data.layout.tmp), []);
}));

test('what an accepted signed root names is kept: its Index blob and each entry\'s tree or file', () => withStore(async (s) => {
  const tree = await putTree(s.data, { bin: { tool: randomBytes(9_000, 80) }, readme: randomBytes(700, 81) });
  const fileBytes = randomBytes(12_000, 82);
  const file = await putBlob(s.data, fileBytes);
  const loose = await putTree(s.data, { junk: randomBytes(6_000, 83) });
  const enc = new TextEncoder();
  const { secret } = generateKeyPair('gc-test-1');
  const published = await new TrustStore(s.data).publish(secret, { set: [{ name: enc.encode('tree'), digest: tree.digest }, { name: enc.encode('file'), digest: file }] });
  const index = published.accepted.root.indexDigest;
  await ageAll(s, 2 * HOUR);

  const r = await gc(s.data, { graceMs: 0 });
  assert.equal(r.roots, 3, 'the Index blob and two entries');
  await assertWhole(s, tree);
  assert.deepEqual(await readBlob(s.data, file), fileBytes);
  assert.ok(await s.data.blobs.has(index), 'the Index blob itself is kept');
  assert.equal(await s.data.directories.get(loose.digest), undefined);
  assert.equal(await s.data.blobs.has(loose.files[0]!.digest), false);
  await assertConsistent(s);
}));

test('writers adding trees while gc runs (grace 0) lose nothing: what they published is whole afterwards', { timeout: 60_000 }, () => withStore(async (s) => {
  for (let i = 0; i < 40; i++) await putTree(s.data, { [`junk${i}`]: randomBytes(3_000 + i * 50, 900 + i) });
  await ageAll(s, 2 * HOUR);
  const added: PutTree[] = [];
  let gcDone = false;
  const writer = (async () => {
    for (let i = 0; !gcDone || i < 5; i++) {
      const t = await putTree(s.data, { [`f${i}`]: randomBytes(5_000, 2000 + i), d: { g: randomBytes(2_000, 3000 + i) } });
      added.push(t);
      if (i % 2 === 0) await pin(s, t.digest);
    }
  })();
  const r = await gc(s.data, { graceMs: 0 });
  gcDone = true;
  const duringGc = added.length;
  await writer;
  assert.ok(duringGc >= 1, `${duringGc} trees published while gc ran`);
  assert.ok(r.removed.dirs >= 40, `${r.removed.dirs} junk directories removed`);
  assert.ok(added.length >= 5);
  for (const t of added) await assertWhole(s, t);
  await assertConsistent(s);
}));

test('blobs kept as their chunk alone (small files through putBytes, packed): kept when a kept tree names them, gone with their pack entry otherwise', () => withStore(async (s) => {
  const keptBytes = randomBytes(3_000, 40);
  const goneBytes = randomBytes(7_000, 41);
  const keptPut = await s.data.blobs.putBytes!(keptBytes);
  const gonePut = await s.data.blobs.putBytes!(goneBytes);
  const [kept, gone] = [keptPut.digest, gonePut.digest];
  assert.equal(await exists(s.data.layout.blobPath(kept)), false, 'test set-up: no record file');
  assert.ok(keptPut.packed && gonePut.packed && keptPut.packed.pack === gonePut.packed.pack, 'test set-up: both in one pack');
  const oldPack = keptPut.packed.pack;
  const dir = await s.data.directories.put({ directories: [], files: [{ name: new TextEncoder().encode('k'), digest: kept, size: 3_000n, executable: false }], symlinks: [] });
  await pin(s, dir);
  await ageAll(s, 2 * HOUR);
  await agePacks(s, 2 * HOUR);

  const removed: string[] = [];
  const r = await gc(s.data, { graceMs: 0, onRemove: (e) => removed.push(`${e.kind} ${e.digest} ${e.bytes}`) });
  assert.deepEqual(removed, [`chunk ${hex(gone)} 7000`]);
  assert.equal(r.removed.chunks, 1);
  assert.equal(r.bytesFreed, 7_000);
  assert.deepEqual(await readBlob(s.data, kept), keptBytes);
  assert.equal(await s.data.blobs.has(gone), false);
  assert.equal(await s.data.blobs.read(gone), undefined);
  assert.equal(await exists(s.data.layout.chunkPath(gone)), false);
  assert.equal(await exists(oldPack), false, 'the pack was rewritten');
  await assertConsistent(s);
}, DEFAULT_CHUNKER));
