// fsck: what it must find (each damaged entry named by digest, with what is wrong), what it
// must move to quarantine (the bad entry and whatever would otherwise name it), what it
// must leave alone (everything else, still readable), and that a second run is clean.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { blake3, toHex } from '../../../src/verify/blake3/index.js';
import { encodeDirectory } from '../../../src/store/castore/index.js';
import { encodeRecord } from '../../../src/store/disk/fs-record.js';
import { asDigest, formatDigest, type Digest } from '../../../src/store/digest.js';
import { fsck, type FsckNote, type FsckOptions, type FsckProblem, type FsckSummary, type FsckTmpLeftover } from '../../../src/store/maintenance/fsck.js';
import { addPin } from '../../../src/store/maintenance/pins.js';
import { randomBytes } from '../blob-data.js';
import { listPacks, readPackView } from '../../../src/store/disk/packs/pack-index.js';
import { removeIndexOf, rewritePack } from '../../../src/store/disk/packs/pack-rewrite.js';
import { sealPacks } from '../../../src/store/disk/packs/pack-writer.js';
import { age, chunkAt, DEFAULT_CHUNKER, exists, filesUnder, flipByte, HOUR, putBlob, putTree, readBlob, unpackChunks, withStore, type Store } from '../store-fixture.js';

interface Run {
  summary: FsckSummary;
  problems: FsckProblem[];
  tmp: FsckTmpLeftover[];
  notes: FsckNote[];
}

async function check(s: Store, options: FsckOptions = {}): Promise<Run> {
  const problems: FsckProblem[] = [];
  const tmp: FsckTmpLeftover[] = [];
  const notes: FsckNote[] = [];
  const summary = await fsck(s.data, { ...options, onProblem: (p) => problems.push(p), onTmp: (t) => tmp.push(t), onNote: (n) => notes.push(n) });
  return { summary, problems, tmp, notes };
}

async function assertClean(s: Store, what: string): Promise<Run> {
  const r = await check(s);
  assert.deepEqual(r.problems, [], `${what}: no problems`);
  assert.equal(r.summary.consistent, true, `${what}: consistent`);
  return r;
}

async function chunksOf(s: Store, blob: Digest): Promise<Digest[]> {
  return (await s.data.blobs.stat(blob))!.chunks.map((c) => c.digest);
}

const hex = formatDigest;

/** Every distinct chunk digest the records of `blobs` name, as hex. */
async function chunkSet(s: Store, blobs: Digest[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const b of blobs) for (const d of await chunksOf(s, b)) out.add(hex(d));
  return out;
}

/** The entries of every pack as read from disk, as `hex` -> pack path. */
function packedEntries(s: Store): Map<string, string> {
  const out = new Map<string, string>();
  for (const pack of listPacks(s.data.layout.packs)) for (const e of readPackView(pack)!.entries) out.set(e.hex, pack);
  return out;
}

/** The run found the store inconsistent, with `victim` reported once, as a corrupt chunk; that report. */
function oneCorruptChunk(r: Run, victim: Digest): FsckProblem {
  assert.equal(r.summary.consistent, false);
  const chunkReports = r.problems.filter((p) => p.kind === 'chunk');
  assert.equal(chunkReports.length, 1, 'the shared chunk is reported once');
  assert.equal(chunkReports[0]!.digest, hex(victim));
  assert.equal(chunkReports[0]!.code, 'CORRUPT_CHUNK');
  return chunkReports[0]!;
}

test('a consistent store: everything checked, nothing reported, nothing moved', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(200_000, 1));
  const tree = await putTree(s.data, { x: randomBytes(50_000, 2), sub: { y: randomBytes(10, 3), z: new Uint8Array(0) } });
  const r = await assertClean(s, 'fresh store');
  // Every blob here has a record (none is small enough to be kept as its chunk alone), and
  // every chunk they name is packed: no chunk files. Each distinct chunk is counted once.
  const named = await chunkSet(s, [a, ...tree.files.map((f) => f.digest)]);
  assert.deepEqual(await filesUnder(s.data.layout.chunks), [], 'chunks are packed, not chunk files');
  assert.deepEqual([...packedEntries(s).keys()].sort(), [...named].sort(), 'the packs hold exactly the chunks the records name');
  assert.deepEqual(r.summary.checked, { blobs: 4, chunks: named.size, directories: 2 });
  assert.equal(r.summary.quarantined, 0);
  assert.equal(await exists(s.data.layout.quarantine), false, 'no quarantine/ made when nothing is bad');
  assert.equal((await readBlob(s.data, a)).length, 200_000);
  assert.ok(await s.data.directories.get(tree.digest));
}));

test('a flipped byte in a chunk: the chunk and every blob naming it are reported and quarantined; the rest stays readable', () => withStore(async (s) => {
  const data = randomBytes(300_000, 10);
  const a = await putBlob(s.data, data);
  // Shares its first chunks with `a` (same leading bytes, FastCDC cuts at the same places).
  const prefix = data.slice(0, 150_000);
  const b = await putBlob(s.data, prefix);
  const other = randomBytes(120_000, 11);
  const c = await putBlob(s.data, other);
  const aChunks = await chunksOf(s, a);
  const bChunks = await chunksOf(s, b);
  const victim = aChunks[1]!;
  assert.ok(bChunks.some((d) => hex(d) === hex(victim)), 'test set-up: the damaged chunk is shared by a and b');
  // A store laid out before packs: the chunk is a file of its own.
  await unpackChunks(s);
  await flipByte(s.data.layout.chunkPath(victim));

  const r = await check(s);
  const chunkReports = [oneCorruptChunk(r, victim)];
  assert.match(chunkReports[0]!.detail, /hash to [0-9a-f]{64}/);
  const blobReports = r.problems.filter((p) => p.kind === 'blob').map((p) => p.digest).sort();
  assert.deepEqual(blobReports, [hex(a), hex(b)].sort(), 'both blobs naming the chunk are reported');
  for (const p of r.problems.filter((q) => q.kind === 'blob')) assert.match(p.detail, new RegExp(`chunk ${hex(victim)}`));
  assert.deepEqual(r.summary.bad, { blobs: 2, chunks: 1, directories: 0, stray: 0 });
  assert.equal(r.summary.quarantined, 3);

  // Moved, keeping their relative paths, not deleted.
  const q = s.data.layout.quarantine;
  const rel = (p: string): string => path.relative(s.root, p);
  assert.ok(await exists(path.join(q, rel(s.data.layout.chunkPath(victim)))));
  assert.ok(await exists(path.join(q, rel(s.data.layout.blobPath(a)))));
  assert.ok(await exists(path.join(q, rel(s.data.layout.blobPath(b)))));
  assert.equal(await exists(s.data.layout.chunkPath(victim)), false);
  assert.equal(await s.data.blobs.has(a), false);
  assert.equal(await s.data.blobs.has(b), false);
  for (const p of r.problems) assert.equal(p.quarantined, rel(path.join(q, p.path)));

  // Everything else untouched and still verifying; the other chunks of a and b stay (gc's business).
  assert.deepEqual(await readBlob(s.data, c), other);
  for (const d of aChunks.filter((x) => hex(x) !== hex(victim))) assert.ok(await exists(s.data.layout.chunkPath(d)));

  await assertClean(s, 'second run');
}));

/** Three blobs in this thread's pack: `a` (multi-chunk), `b` sharing a's leading chunks, and `c`; `victim` is a's second chunk, shared with b. */
async function packedTrio(s: Store) {
  const data = randomBytes(300_000, 12);
  const a = await putBlob(s.data, data);
  const b = await putBlob(s.data, data.slice(0, 150_000));
  const cBytes = randomBytes(120_000, 13);
  const c = await putBlob(s.data, cBytes);
  const aChunks = await chunksOf(s, a);
  const victim = aChunks[1]!;
  assert.ok(aChunks.length > 3, 'test set-up: a has several chunks');
  assert.ok((await chunksOf(s, b)).some((d) => hex(d) === hex(victim)), 'test set-up: the damaged chunk is shared by a and b');
  const at = await chunkAt(s, victim);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: the chunk is packed');
  assert.equal(await exists(s.data.layout.chunkPath(victim)), false, 'test set-up: no chunk file');
  const entries = packedEntries(s);
  for (const d of await chunkSet(s, [a, b, c])) assert.equal(entries.get(d), at.file, 'test set-up: every chunk in the one pack');
  return { a, b, c, cBytes, aChunks, victim, at, entries };
}

test('a flipped byte in a packed chunk: the entry and every blob naming it are reported; its bytes and the records are quarantined, the pack is rewritten without it', () => withStore(async (s) => {
  const { a, b, c, cBytes, aChunks, victim, at, entries } = await packedTrio(s);
  await flipByte(at.file, at.offset + 100);
  const damaged = new Uint8Array((await readFile(at.file)).subarray(at.offset, at.offset + at.size));

  const r = await check(s);
  const chunkReports = [oneCorruptChunk(r, victim)];
  assert.equal(chunkReports[0]!.path, path.relative(s.root, at.file), 'named by the pack it is in');
  assert.match(chunkReports[0]!.detail, new RegExp(`hash to [0-9a-f]{64} \\(packed at offset ${at.offset}\\)`));
  const blobReports = r.problems.filter((p) => p.kind === 'blob');
  assert.deepEqual(blobReports.map((p) => p.digest).sort(), [hex(a), hex(b)].sort(), 'both blobs naming the chunk are reported');
  for (const p of blobReports) {
    assert.equal(p.code, 'CORRUPT_CHUNK');
    assert.match(p.detail, new RegExp(`chunk ${hex(victim)} at content offset \\d+ is corrupt`));
  }
  assert.deepEqual(r.summary.bad, { blobs: 2, chunks: 1, directories: 0, stray: 0 });
  assert.equal(r.summary.checked.chunks, entries.size, 'every pack entry checked once');
  assert.equal(r.summary.quarantined, 3, 'the entry\'s bytes and two records');

  // The entry's bytes (as damaged) where its chunk file would be quarantined; the records moved.
  const q = s.data.layout.quarantine;
  const rel = (p: string): string => path.relative(s.root, p);
  const copy = path.join(q, rel(s.data.layout.chunkPath(victim)));
  assert.equal(chunkReports[0]!.quarantined, rel(copy));
  assert.deepEqual(new Uint8Array(await readFile(copy)), damaged);
  for (const p of blobReports) assert.equal(p.quarantined, rel(path.join(q, p.path)));
  assert.ok(await exists(path.join(q, rel(s.data.layout.blobPath(a)))));
  assert.ok(await exists(path.join(q, rel(s.data.layout.blobPath(b)))));
  assert.equal(await s.data.blobs.has(a), false);
  assert.equal(await s.data.blobs.has(b), false);

  // The pack rewritten: the old one and its index gone, a new one holding every other entry.
  assert.equal(await exists(at.file), false, 'the damaged pack is gone');
  const after = packedEntries(s);
  assert.equal(after.has(hex(victim)), false, 'the bad entry is not in any pack');
  assert.deepEqual([...after.keys()].sort(), [...entries.keys()].filter((h) => h !== hex(victim)).sort(), 'every other entry kept (the rest of a and b is gc\'s business)');
  assert.equal(new Set(after.values()).size, 1, 'one new pack');
  assert.deepEqual((await filesUnder(s.data.layout.packs)).map((f) => path.extname(f)).sort(), ['.idx', '.pack'], 'the old index went with its pack');
  for (const d of aChunks.filter((x) => hex(x) !== hex(victim))) assert.ok(after.has(hex(d)));
  assert.deepEqual(await readBlob(s.data, c), cBytes, 'another blob of the same pack still reads');

  await assertClean(s, 'second run');
}));

test('dry run on a packed chunk: the same problems, nothing moved, the pack not rewritten', () => withStore(async (s) => {
  const { a, b, victim, at } = await packedTrio(s);
  await flipByte(at.file, at.offset + 100);
  const before = await filesUnder(s.root);
  const dry = await check(s, { dryRun: true });
  assert.equal(dry.summary.consistent, false);
  const seen = (r: Run) => r.problems.map((p) => [p.kind, p.digest, p.code, p.path]).sort();
  assert.deepEqual(dry.problems.map((p) => [p.kind, p.digest, p.quarantined]).sort(), [['blob', hex(a), undefined], ['blob', hex(b), undefined], ['chunk', hex(victim), undefined]].sort());
  assert.equal(dry.summary.quarantined, 0);
  assert.deepEqual(await filesUnder(s.root), before, 'nothing moved, no pack rewritten, no quarantine/');
  await assert.rejects(readBlob(s.data, a), { code: 'CORRUPT_CHUNK' });
  const real = await check(s);
  assert.deepEqual(seen(real), seen(dry), 'the real run finds what the dry run reported');
  assert.equal(await exists(at.file), false);
  await assertClean(s, 'after the real run');
}));

test('a packed chunk gone from its pack: the record naming it is reported as missing that chunk and quarantined', () => withStore(async (s) => {
  const keepBytes = randomBytes(40_000, 35);
  const k = await putBlob(s.data, keepBytes);
  const a = await putBlob(s.data, randomBytes(80_000, 36));
  const gone = (await chunksOf(s, a)).at(-1)!;
  const at = await chunkAt(s, gone);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: the chunk is packed');
  // The pack rewritten without it, as a gc that (wrongly) thought it dead would leave it.
  await rewritePack(s.data.layout, readPackView(at.file)!, (h) => h !== hex(gone));
  await unlink(at.file);
  await removeIndexOf(at.file);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'MISSING_CHUNK']]);
  assert.match(r.problems[0]!.detail, new RegExp(`chunk ${hex(gone)} at content offset \\d+ is missing`));
  assert.equal(await s.data.blobs.has(a), false);
  assert.deepEqual(await readBlob(s.data, k), keepBytes);
  await assertClean(s, 'second run');
}));

test('a record cut short is reported as a corrupt record and quarantined; its chunks stay', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(100_000, 20));
  const keep = randomBytes(70_000, 21);
  const k = await putBlob(s.data, keep);
  const chunks = await chunksOf(s, a);
  // Where its (packed) chunks are before the check; chunkAt seals this thread's pack.
  const before = new Map<string, Awaited<ReturnType<typeof chunkAt>>>();
  for (const d of chunks) before.set(hex(d), await chunkAt(s, d));
  assert.ok([...before.values()].every((c) => c.file.endsWith('.pack')), 'test set-up: the chunks are packed');
  const packsBefore = await filesUnder(s.data.layout.packs);
  await truncate(s.data.layout.blobPath(a), 30);
  const r = await check(s);
  assert.equal(r.summary.consistent, false);
  assert.equal(r.problems.length, 1);
  const [p] = r.problems;
  assert.equal(p!.kind, 'blob');
  assert.equal(p!.digest, hex(a));
  assert.equal(p!.code, 'CORRUPT_RECORD');
  assert.ok(p!.quarantined);
  assert.equal(r.summary.quarantined, 1, 'only the record moved');
  assert.equal(await s.data.blobs.has(a), false);
  // Chunks of a bad record are not judged by it: its pack is neither rewritten nor touched.
  assert.deepEqual(await filesUnder(s.data.layout.packs), packsBefore, 'the pack is left as it was');
  for (const d of chunks) assert.deepEqual(await chunkAt(s, d), before.get(hex(d)), 'each chunk of the bad record is where it was');
  assert.deepEqual(await readBlob(s.data, k), keep);
  await assertClean(s, 'second run');
}));

test('a record whose outboard is damaged: the record is blamed, not its (good) chunks', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(100_000, 22));
  const file = s.data.layout.blobPath(a);
  const size = (await readFile(file)).length;
  await flipByte(file, size - 10);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'CORRUPT_RECORD']]);
  assert.match(r.problems[0]!.detail, /outboard/);
  assert.equal(r.summary.bad.chunks, 0);
  assert.ok(r.summary.checked.chunks > 0);
  assert.equal(r.summary.quarantined, 1, 'only the record moved');
  await assertClean(s, 'second run');
}));

test('a record that gives a good chunk the wrong size is blamed, not the chunk', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(60_000, 24));
  await unpackChunks(s);
  const st = (await s.data.blobs.stat(a))!;
  const [c0, c1, ...rest] = st.chunks;
  assert.ok(c0 && c1 && c0.size !== c1.size, 'test set-up: two chunks of different sizes');
  // Sizes swapped: still adding up to the blob's size, so only the chunk files can tell.
  const swapped = [{ digest: c0.digest, size: c1.size }, { digest: c1.digest, size: c0.size }, ...rest];
  await writeFile(s.data.layout.blobPath(a), encodeRecord(st.size, swapped, st.outboard));
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'CORRUPT_RECORD']]);
  assert.match(r.problems[0]!.detail, new RegExp(`chunk ${hex(c0.digest)} ${c1.size} bytes, the chunk has ${c0.size}`));
  for (const c of st.chunks) assert.ok(await exists(s.data.layout.chunkPath(c.digest)), 'every chunk stays');
  await assertClean(s, 'second run');
}));

/** A record for `a` whose first two chunks' sizes are swapped (still adding up to the blob's size). */
async function swapFirstSizes(s: Store, a: Digest) {
  const st = (await s.data.blobs.stat(a))!;
  const [c0, c1, ...rest] = st.chunks;
  assert.ok(c0 && c1 && c0.size > c1.size, 'test set-up: a first chunk larger than the second');
  await writeFile(s.data.layout.blobPath(a), encodeRecord(st.size, [{ digest: c0.digest, size: c1.size }, { digest: c1.digest, size: c0.size }, ...rest], st.outboard));
  return { st, c0, c1 };
}

test('a record that gives a good packed chunk the wrong size is blamed, not the chunk or its pack', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(60_000, 28));
  const { st, c0 } = await swapFirstSizes(s, a);
  const at = await chunkAt(s, c0.digest);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: packed');
  const packsBefore = await filesUnder(s.data.layout.packs);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'CORRUPT_RECORD']]);
  assert.match(r.problems[0]!.detail, new RegExp(`it gives chunk ${hex(c0.digest)} \\d+ bytes, the chunk has`));
  assert.equal(r.summary.bad.chunks, 0);
  assert.deepEqual(await filesUnder(s.data.layout.packs), packsBefore, 'the pack is left as it was');
  for (const c of st.chunks) assert.equal((await chunkAt(s, c.digest)).file, at.file, 'every chunk stays in its pack');
  await assertClean(s, 'second run');
}));

test('a record that gives a packed chunk fewer bytes than it has: the detail gives the entry\'s size', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(60_000, 28));
  const { c0, c1 } = await swapFirstSizes(s, a);
  const r = await check(s);
  assert.match(r.problems[0]!.detail, new RegExp(`chunk ${hex(c0.digest)} ${c1.size} bytes, the chunk has ${c0.size}$`));
}));

test('a missing chunk: the record naming it is reported with the chunk digest and quarantined', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(80_000, 30));
  await unpackChunks(s);
  const gone = (await chunksOf(s, a)).at(-1)!;
  await unlink(s.data.layout.chunkPath(gone));
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'MISSING_CHUNK']]);
  assert.match(r.problems[0]!.detail, new RegExp(`chunk ${hex(gone)} at content offset \\d+ is missing`));
  assert.equal(await s.data.blobs.has(a), false);
  await assertClean(s, 'second run');
}));

test('a chunk file cut short: the chunk and its blob are quarantined', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(80_000, 31));
  await unpackChunks(s);
  const victim = (await chunksOf(s, a))[0]!;
  await truncate(s.data.layout.chunkPath(victim), 100);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest]).sort(), [['blob', hex(a)], ['chunk', hex(victim)]].sort());
  await assertClean(s, 'second run');
}));

test('a chunk file cut short, then stored again packed: the short file is quarantined, the record kept (its chunk is good in the pack)', () => withStore(async (s) => {
  const bytes = randomBytes(80_000, 31);
  const a = await putBlob(s.data, bytes);
  await unpackChunks(s);
  const victim = (await chunksOf(s, a))[0]!;
  await truncate(s.data.layout.chunkPath(victim), 100);
  // A chunk file of the wrong size is not kept (chunk-put.ts): storing the blob again packs the chunk.
  await putBlob(s.data, bytes);
  assert.ok((await chunkAt(s, victim)).file.endsWith('.pack'), 'test set-up: a good packed copy beside the short file');
  // Whether or not this thread's map of the packs is loaded (a fresh process, as castor
  // fsck is, has none), the short file is hashed on its own: a good packed copy does not vouch for it.
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code, p.path]), [['chunk', hex(victim), 'CORRUPT_CHUNK', path.relative(s.root, s.data.layout.chunkPath(victim))]]);
  assert.equal(await exists(s.data.layout.chunkPath(victim)), false, 'the short file is quarantined');
  assert.ok(await s.data.blobs.has(a), 'the record is kept');
  assert.deepEqual(await readBlob(s.data, a), bytes);
  await assertClean(s, 'second run');
}));

test('an orphan chunk that does not hash to its name is quarantined', () => withStore(async (s) => {
  const k = await putBlob(s.data, randomBytes(40_000, 32));
  const bytes = randomBytes(5000, 33);
  const wrongName = asDigest(blake3(randomBytes(10, 34)));
  await mkdir(path.dirname(s.data.layout.chunkPath(wrongName)), { recursive: true });
  await writeFile(s.data.layout.chunkPath(wrongName), bytes);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['chunk', hex(wrongName), 'CORRUPT_CHUNK']]);
  assert.match(r.problems[0]!.detail, new RegExp(`hash to ${toHex(blake3(bytes))}`));
  assert.ok(await readBlob(s.data, k));
  await assertClean(s, 'second run');
}));

test('a corrupt Directory is quarantined, then every Directory naming it, up to the root; other trees stay', () => withStore(async (s) => {
  const t = await putTree(s.data, { a: randomBytes(3000, 40), mid: { low: { f: randomBytes(100, 41) }, g: randomBytes(10, 42) } });
  const [root, mid, low] = t.dirs;
  const other = await putTree(s.data, { q: randomBytes(500, 43), sub: { r: randomBytes(10, 44) } });
  await flipByte(s.data.layout.dirPath(low!), 3);
  const r = await check(s);
  assert.equal(r.summary.consistent, false);
  const byDigest = new Map(r.problems.map((p) => [p.digest, p]));
  assert.equal(byDigest.get(hex(low!))?.code, 'HASH_MISMATCH');
  assert.equal(byDigest.get(hex(mid!))?.code, 'MISSING_CHILD');
  assert.match(byDigest.get(hex(mid!))!.detail, new RegExp(`"low" \\(${hex(low!)}\\)`));
  assert.equal(byDigest.get(hex(root!))?.code, 'MISSING_CHILD');
  assert.equal(r.problems.length, 3);
  assert.equal(r.summary.bad.directories, 3);
  for (const d of [root, mid, low]) assert.equal(await exists(s.data.layout.dirPath(d!)), false);
  // The file blobs are fine and stay; the other tree is complete.
  for (const f of t.files) assert.deepEqual(await readBlob(s.data, f.digest), f.bytes);
  const walked = [];
  for await (const d of s.data.directories.getRecursive(other.digest)) walked.push(d);
  assert.equal(walked.length, 2);
  await assertClean(s, 'second run');
}));

test('a Directory that hashes right but does not decode or validate is quarantined', () => withStore(async (s) => {
  const put = async (bytes: Uint8Array): Promise<Digest> => {
    const d = asDigest(blake3(bytes));
    await mkdir(path.dirname(s.data.layout.dirPath(d)), { recursive: true });
    await writeFile(s.data.layout.dirPath(d), bytes);
    return d;
  };
  const garbage = await put(new Uint8Array([0xff, 0xff, 0xff]));
  // Two files in the wrong order: decodes, fails validation.
  const enc = new TextEncoder();
  const f = (name: string) => ({ name: enc.encode(name), digest: new Uint8Array(32), size: 0n, executable: false });
  const unsorted = await put(encodeDirectory({ directories: [], files: [f('b'), f('a')], symlinks: [] }));
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.digest, p.code]).sort(), [[hex(garbage), 'INVALID_DIRECTORY'], [hex(unsorted), 'INVALID_DIRECTORY']].sort());
  await assertClean(s, 'second run');
}));

test('a Directory in non-canonical encoding is quarantined', () => withStore(async (s) => {
  const enc = new TextEncoder();
  const file = { name: enc.encode('a'), digest: new Uint8Array(32).fill(7), size: 5n, executable: false };
  const canonical = encodeDirectory({ directories: [], files: [file], symlinks: [] });
  // Field 2 (files) of Directory, then a FileNode with an explicit executable=false (tag 4, value 0),
  // which proto3 canonical form omits: decodes to the same Directory, hashes differently.
  const inner = canonical.subarray(2);
  const padded = new Uint8Array([0x12, inner.length + 2, ...inner, 0x20, 0x00]);
  const d = asDigest(blake3(padded));
  await mkdir(path.dirname(s.data.layout.dirPath(d)), { recursive: true });
  await writeFile(s.data.layout.dirPath(d), padded);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.digest, p.code]), [[hex(d), 'NOT_CANONICAL']]);
}));

test('a Directory whose DirectoryNode claims the wrong size for its child is quarantined', () => withStore(async (s) => {
  const enc = new TextEncoder();
  const child = await s.data.directories.put({ directories: [], files: [], symlinks: [{ name: enc.encode('l'), target: enc.encode('/x') }] });
  const bytes = encodeDirectory({ directories: [{ name: enc.encode('c'), digest: child, size: 5n }], files: [], symlinks: [] });
  const parent = asDigest(blake3(bytes));
  await mkdir(path.dirname(s.data.layout.dirPath(parent)), { recursive: true });
  await writeFile(s.data.layout.dirPath(parent), bytes);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.digest, p.code]), [[hex(parent), 'SIZE_MISMATCH']]);
  assert.ok(await s.data.directories.get(child), 'the child itself is fine and stays');
}));

test('tmp/ leftovers older than the threshold are removed and reported, younger ones kept; neither counts as a problem', () => withStore(async (s) => {
  const tmp = s.data.layout.tmp;
  const oldDir = path.join(tmp, 'w-4242-0123456789abcdef');
  await mkdir(oldDir);
  await writeFile(path.join(oldDir, 'f'.repeat(64)), randomBytes(100, 50));
  await age(oldDir, 2 * HOUR);
  const oldFile = path.join(tmp, 'd-4242-aaaaaaaaaaaaaaaa');
  await writeFile(oldFile, 'x');
  await age(oldFile, 2 * HOUR);
  const young = path.join(tmp, 'w-4343-bbbbbbbbbbbbbbbb');
  await mkdir(young);
  const r = await check(s);
  assert.equal(r.summary.consistent, true);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.tmp.map((t) => [t.path, t.removed]), [['tmp/d-4242-aaaaaaaaaaaaaaaa', true], ['tmp/w-4242-0123456789abcdef', true]]);
  assert.ok(r.tmp.every((t) => t.ageMs >= 2 * HOUR - 60_000));
  assert.equal(r.summary.tmpRemoved, 2);
  assert.equal(r.summary.tmpKept, 1);
  assert.equal(await exists(oldDir), false);
  assert.equal(await exists(oldFile), false);
  assert.ok(await exists(young), 'a live writer\'s dir is left alone');
  const zero = await check(s, { tmpAgeMs: 0 });
  assert.deepEqual(zero.tmp.map((t) => t.path), ['tmp/w-4343-bbbbbbbbbbbbbbbb']);
  assert.equal(await exists(young), false);
}));

test('dry run: reports the same problems, moves and removes nothing', () => withStore(async (s) => {
  const a = await putBlob(s.data, randomBytes(60_000, 60));
  await unpackChunks(s);
  const victim = (await chunksOf(s, a))[0]!;
  await flipByte(s.data.layout.chunkPath(victim));
  const leftover = path.join(s.data.layout.tmp, 'w-1-0000000000000000');
  await mkdir(leftover);
  await age(leftover, 2 * HOUR);
  const before = await filesUnder(s.root);
  const dry = await check(s, { dryRun: true });
  assert.equal(dry.summary.consistent, false);
  assert.deepEqual(dry.problems.map((p) => [p.kind, p.digest, p.quarantined]).sort(), [['blob', hex(a), undefined], ['chunk', hex(victim), undefined]].sort());
  assert.deepEqual(dry.tmp.map((t) => t.removed), [false]);
  assert.equal(dry.summary.quarantined, 0);
  assert.deepEqual(await filesUnder(s.root), before);
  assert.ok(await exists(leftover));
  const real = await check(s);
  assert.deepEqual(real.problems.map((p) => [p.kind, p.digest]).sort(), dry.problems.map((p) => [p.kind, p.digest]).sort());
}));

test('stray entries (no digest name, or not a file) are quarantined', () => withStore(async (s) => {
  await mkdir(path.join(s.data.layout.chunks, 'ab'), { recursive: true });
  await writeFile(path.join(s.data.layout.chunks, 'ab', 'not-a-digest'), 'x');
  await writeFile(path.join(s.data.layout.blobs, 'README'), 'x');
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.path]).sort(), [['stray', 'blobs/README'], ['stray', 'chunks/ab/not-a-digest']]);
  assert.equal(r.summary.bad.stray, 2);
  assert.ok(await exists(path.join(s.data.layout.quarantine, 'chunks', 'ab', 'not-a-digest')));
  await assertClean(s, 'second run');
}));

test('quarantine never overwrites: a second bad copy of the same name is kept beside the first', () => withStore(async (s) => {
  const bytes = randomBytes(30_000, 70);
  const a = await putBlob(s.data, bytes);
  const victim = (await chunksOf(s, a))[0]!;
  const rel = (p: string): string => path.relative(s.root, p);
  const q = path.join(s.data.layout.quarantine, rel(s.data.layout.chunkPath(victim)));
  const movedTo = (r: Run): string | undefined => r.problems.find((p) => p.kind === 'chunk' && p.digest === hex(victim))?.quarantined;
  // Twice as a chunk file (moved into quarantine/), then as a packed entry (its bytes
  // copied there): each lands beside the ones before, under the same name.
  await unpackChunks(s);
  await flipByte(s.data.layout.chunkPath(victim));
  assert.equal(movedTo(await check(s)), rel(q));
  await putBlob(s.data, bytes);
  await unpackChunks(s);
  await flipByte(s.data.layout.chunkPath(victim), 0);
  assert.equal(movedTo(await check(s)), rel(`${q}.1`));
  await putBlob(s.data, bytes);
  const at = await chunkAt(s, victim);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: stored again, the chunk is packed');
  await flipByte(at.file, at.offset + 7);
  assert.equal(movedTo(await check(s)), rel(`${q}.2`));
  const copies = await Promise.all([q, `${q}.1`, `${q}.2`].map((f) => readFile(f)));
  for (const [i, x] of copies.entries()) {
    assert.equal(x.length, copies[0]!.length);
    for (const y of copies.slice(i + 1)) assert.notDeepEqual(x, y, 'each copy is the one damaged that time');
  }
  await assertClean(s, 'last run');
}));

test('notes: a tree file whose blob is gone and a pin naming nothing are noted, not counted as problems', () => withStore(async (s) => {
  const t = await putTree(s.data, { f: randomBytes(20_000, 80) });
  await unlink(s.data.layout.blobPath(t.files[0]!.digest));
  const ghost = asDigest(blake3(new Uint8Array([1, 2, 3])));
  await addPin(s.data.layout, { digest: ghost, type: 'blob', label: 'ghost' });
  const r = await check(s);
  assert.equal(r.summary.consistent, true);
  assert.deepEqual(r.notes.map((n) => [n.kind, n.digest]), [['directory', hex(t.digest)], ['pin', hex(ghost)]]);
  assert.equal(r.summary.missingBlobs, 1);
  assert.equal(r.summary.danglingPins, 1);
}));

test('chunks larger than 1 MiB are hashed in windows; damage in the last window is still found', () => withStore(async (s) => {
  const bytes = randomBytes(5 << 20, 90);
  const a = await putBlob(s.data, bytes);
  const chunks = (await s.data.blobs.stat(a))!.chunks;
  const big = chunks.find((c) => c.size > (1 << 20) + 1000)!;
  assert.ok(big, 'test set-up: a chunk over 1 MiB');
  await unpackChunks(s);
  assert.equal((await chunkAt(s, big.digest)).file, s.data.layout.chunkPath(big.digest), 'test set-up: a chunk file over 1 MiB');
  await assertClean(s, 'before damage');
  await flipByte(s.data.layout.chunkPath(big.digest), big.size - 5);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest]).sort(), [['blob', hex(a)], ['chunk', hex(big.digest)]].sort());
  await assertClean(s, 'second run');
}, { min: 1 << 20, avg: 2 << 20, max: 4 << 20 }));

test('a packed chunk larger than 1 MiB: damage near its end is found, the entry and its blob reported, the pack rewritten', () => withStore(async (s) => {
  const bytes = randomBytes(5 << 20, 91);
  const a = await putBlob(s.data, bytes);
  const other = randomBytes(3 << 20, 92);
  const o = await putBlob(s.data, other);
  const big = (await s.data.blobs.stat(a))!.chunks.find((c) => c.size > (1 << 20) + 1000)!;
  assert.ok(big, 'test set-up: a chunk over 1 MiB');
  const at = await chunkAt(s, big.digest);
  assert.ok(at.file.endsWith('.pack') && at.size === big.size, 'test set-up: packed');
  await flipByte(at.file, at.offset + big.size - 5);
  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]).sort(), [['blob', hex(a), 'CORRUPT_CHUNK'], ['chunk', hex(big.digest), 'CORRUPT_CHUNK']].sort());
  assert.equal(await exists(at.file), false, 'the pack was rewritten');
  assert.equal(packedEntries(s).has(hex(big.digest)), false);
  assert.deepEqual(await readBlob(s.data, o), other);
  await assertClean(s, 'second run');
}, { min: 1 << 20, avg: 2 << 20, max: 4 << 20 }));

test('memory stays bounded: a 48 MiB blob is checked holding a few MiB of buffers, never the blob', { timeout: 60_000 }, () => withStore(async (s) => {
  const size = 48 << 20;
  const w = s.data.blobs.openWriter();
  const piece = new Uint8Array(1 << 20);
  for (let i = 0; i < 48; i++) {
    piece.set(randomBytes(piece.length, 100 + i));
    await w.write(piece);
  }
  await w.close();
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const live = (): number => { gc(); return process.memoryUsage().arrayBuffers; };
  const base = live();
  let peak = 0;
  let next = 0;
  const summary = await fsck(s.data, {
    progress: {
      start: (total) => assert.ok(total >= size, `progress total ${total} covers the stored bytes`),
      update: (done) => {
        if (done < next) return;
        next = done + (4 << 20);
        peak = Math.max(peak, live() - base);
      },
      finish: () => {},
    },
  });
  assert.equal(summary.consistent, true);
  assert.ok(next > size / 2, 'progress was reported along the way');
  assert.ok(peak < 16 << 20, `peak ${(peak / 2 ** 20).toFixed(1)} MiB of live buffers while checking 48 MiB`);
}, DEFAULT_CHUNKER));

test('a packed blob with a flipped byte: its entry is reported, its bytes quarantined, the pack rewritten without it, reads fail, and the tree naming it gets a note', () => withStore(async (s) => {
  const bytes = randomBytes(9_000, 42);
  const otherBytes = randomBytes(4_000, 43);
  const { digest, packed } = await s.data.blobs.putBytes!(bytes);
  const other = (await s.data.blobs.putBytes!(otherBytes)).digest;
  assert.equal(await exists(s.data.layout.blobPath(digest)), false, 'test set-up: no record file');
  assert.ok(packed !== undefined, 'test set-up: packed');
  assert.equal(await exists(s.data.layout.chunkPath(digest)), false, 'test set-up: no chunk file');
  const dir = await s.data.directories.put({ directories: [], files: [{ name: new TextEncoder().encode('f'), digest, size: 9_000n, executable: false }], symlinks: [] });
  await flipByte(packed.pack, packed.offset + 1234);
  await assert.rejects(readBlob(s.data, digest), { code: 'CORRUPT_CHUNK', value: hex(digest) });

  const dry = await check(s, { dryRun: true });
  assert.deepEqual(dry.problems.map((p) => [p.kind, p.digest, p.code, p.quarantined]), [['chunk', hex(digest), 'CORRUPT_CHUNK', undefined]]);
  assert.ok(await exists(packed.pack), 'a dry run leaves the pack alone');

  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code]), [['chunk', hex(digest), 'CORRUPT_CHUNK']]);
  assert.equal(r.problems[0]!.path, path.relative(s.data.layout.root, packed.pack));
  assert.equal(r.summary.checked.chunks, 2, 'both packed entries checked');
  assert.equal(r.summary.quarantined, 1);
  const copy = path.join(s.data.layout.root, r.problems[0]!.quarantined!);
  assert.equal(copy, path.join(s.data.layout.quarantine, path.relative(s.data.layout.root, s.data.layout.chunkPath(digest))), 'quarantined where its chunk file would be');
  const kept = await readFile(copy);
  assert.equal(kept.length, 9_000);
  assert.notDeepEqual(new Uint8Array(kept), bytes, 'the quarantined copy is the damaged bytes');
  assert.equal(await exists(packed.pack), false, 'the damaged pack was rewritten');
  assert.deepEqual(r.notes.map((n) => [n.kind, n.digest]), [['directory', hex(dir)]]);
  assert.equal(await s.data.blobs.has(digest), false);
  assert.deepEqual(await readBlob(s.data, other), otherBytes, 'the other entry of the pack still reads');
  await assertClean(s, 'second run');
}, DEFAULT_CHUNKER));

test('a bad copy of a chunk in one pack with a good copy in another: the bad entry is quarantined, the blobs naming the chunk are whole and kept', () => withStore(async (s) => {
  const bytes = randomBytes(300_000, 95);
  const a = await putBlob(s.data, bytes);
  sealPacks();
  const [original] = listPacks(s.data.layout.packs);
  // A second copy of every entry, as gc leaves when it puts back a pack it had rewritten,
  // in a pack of a writer long gone (so fsck may rewrite it); one entry damaged there.
  const copy = path.join(s.data.layout.packs, '99999999-0-copy.pack');
  await writeFile(copy, await readFile(original!));
  await writeFile(copy.replace(/\.pack$/, '.idx'), await readFile(original!.replace(/\.pack$/, '.idx')));
  const victim = readPackView(copy)!.entries[1]!;
  await flipByte(copy, victim.offset + 100);

  const r = await check(s);
  assert.deepEqual(r.problems.map((p) => [p.kind, p.digest, p.code, p.path]), [['chunk', victim.hex, 'CORRUPT_CHUNK', path.relative(s.root, copy)]], 'only the bad copy is reported');
  assert.equal(r.summary.bad.blobs, 0);
  assert.ok(await s.data.blobs.has(a), 'the record is kept');
  assert.deepEqual(await readBlob(s.data, a), bytes);
  assert.equal(await exists(copy), false, 'the damaged pack was rewritten without the bad entry');
  await assertClean(s, 'second run');
}));
