// castor fsck, gc and pin as real processes: output lines and JSON, exit codes, and that
// what they say happened did happen on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir, type DataDir } from '../../src/store/disk/data-dir.js';
import { formatDigest } from '../../src/store/digest.js';
import { randomBytes } from '../store/blob-data.js';
import { listPacks, readPackView } from '../../src/store/disk/packs/pack-index.js';
import { sealPacks } from '../../src/store/disk/packs/pack-writer.js';
import { age, ageAll, chunkAt, exists, filesUnder, flipByte, HOUR, putBlob, putTree, readBlob, unpackChunks, type Store } from '../store/store-fixture.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { castor, type CliResult } from './run-cli.js';

async function withData(body: (s: Store, run: (...args: string[]) => CliResult) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'castor-cli-fsck-'));
  try {
    const data: DataDir = await openDataDir(root, { durable: false, chunker: { min: 1024, avg: 4096, max: 16384 } });
    const s: Store = { data, root, cleanup: async () => {} };
    await body(s, (...args) => castor([...args, '--data-dir', root]));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const out = (r: CliResult): string => r.stdout.toString();
const hex = formatDigest;

/** Every chunk digest (hex) in the store's packs, as read from disk. */
function packedHexes(s: Store): Set<string> {
  const out = new Set<string>();
  for (const pack of listPacks(s.data.layout.packs)) for (const e of readPackView(pack)!.entries) out.add(e.hex);
  return out;
}

test('fsck on a consistent store: exit 0, a summary line, or a JSON summary', () => withData(async (s, run) => {
  await putTree(s.data, { a: randomBytes(30_000, 1), sub: { b: randomBytes(100, 2) } });
  const r = run('fsck');
  assert.equal(r.status, 0, r.stderr);
  assert.match(out(r), /^fsck: checked 2 blob records, \d+ chunks, 2 directories; no problems\n$/);
  const j = run('fsck', '--json');
  assert.equal(j.status, 0, j.stderr);
  const summary = JSON.parse(out(j));
  assert.equal(summary.consistent, true);
  assert.equal(summary.checked.blobs, 2);
  assert.equal(summary.checked.directories, 2);
  assert.deepEqual(summary.bad, { blobs: 0, chunks: 0, directories: 0, stray: 0 });
  assert.equal(summary.quarantined, 0);
  assert.equal(summary.tmp_removed, 0);
  assert.deepEqual(summary.problems, []);
}));

test('fsck with a flipped chunk byte: names the chunk and the blob, quarantines both, exit 1; then exit 0 and the rest still reads', () => withData(async (s, run) => {
  const badBytes = randomBytes(60_000, 10);
  const bad = await putBlob(s.data, badBytes);
  const goodBytes = randomBytes(60_000, 11);
  const good = await putBlob(s.data, goodBytes);
  const victim = (await s.data.blobs.stat(bad))!.chunks[2]!.digest;
  // The chunk is packed (chunkAt seals this process's pack, as its exit would: fsck rewrites only sealed packs or a dead writer's).
  const at = await chunkAt(s, victim);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: the chunk is packed');
  await flipByte(at.file, at.offset + 10);

  const r = run('fsck');
  assert.equal(r.status, 1, r.stderr);
  const lines = out(r).trim().split('\n');
  const chunkLine = lines.find((l) => l.startsWith(`chunk ${hex(victim)}: `));
  const blobLine = lines.find((l) => l.startsWith(`blob ${hex(bad)}: `));
  assert.ok(chunkLine, out(r));
  assert.ok(blobLine, out(r));
  assert.match(chunkLine!, new RegExp(`corrupt.*packed at offset ${at.offset}.*\\(quarantined to quarantine/chunks/`));
  assert.match(blobLine!, new RegExp(`chunk ${hex(victim)} at content offset \\d+ is corrupt \\(quarantined to quarantine/blobs/`));
  assert.match(lines.at(-1)!, /^fsck: .*2 bad.*2 quarantined/);
  assert.ok(await exists(path.join(s.data.layout.quarantine, path.relative(s.root, s.data.layout.chunkPath(victim)))), 'the entry\'s bytes copied out');
  assert.equal(await exists(at.file), false, 'the pack was rewritten');
  assert.equal(packedHexes(s).has(hex(victim)), false, 'without the bad entry');

  const again = run('fsck', '--json');
  assert.equal(again.status, 0, out(again));
  assert.equal(JSON.parse(out(again)).consistent, true);
  assert.deepEqual(await readBlob(s.data, good), goodBytes);
  const cat = castor(['cat', hex(good), '--data-dir', s.root]);
  assert.equal(cat.status, 0, cat.stderr);
  assert.deepEqual(new Uint8Array(cat.stdout), goodBytes);
}));

test('fsck --json lists problems; --dry-run moves nothing', () => withData(async (s, run) => {
  const a = await putBlob(s.data, randomBytes(20_000, 20));
  // A store laid out before packs: each chunk a file of its own.
  await unpackChunks(s);
  const gone = (await s.data.blobs.stat(a))!.chunks[0]!.digest;
  const { unlink } = await import('node:fs/promises');
  await unlink(s.data.layout.chunkPath(gone));
  const before = await filesUnder(s.root);
  const dry = run('fsck', '--dry-run', '--json');
  assert.equal(dry.status, 1);
  const j = JSON.parse(out(dry));
  assert.equal(j.dry_run, true);
  assert.equal(j.quarantined, 0);
  assert.deepEqual(j.problems.map((p: { kind: string; digest: string; code: string }) => [p.kind, p.digest, p.code]), [['blob', hex(a), 'MISSING_CHUNK']]);
  assert.deepEqual(await filesUnder(s.root), before);
  assert.equal(run('fsck').status, 1);
  assert.equal(run('fsck').status, 0);
}));

test('fsck removes tmp/ leftovers older than --tmp-age and says so, still exit 0', () => withData(async (s, run) => {
  const leftover = path.join(s.data.layout.tmp, 'w-99999-0011223344556677');
  await mkdir(leftover);
  await writeFile(path.join(leftover, 'chunk'), 'x');
  await age(leftover, 3 * HOUR);
  const young = path.join(s.data.layout.tmp, 'w-99998-8899aabbccddeeff');
  await mkdir(young);
  const r = run('fsck');
  assert.equal(r.status, 0, r.stderr);
  assert.match(out(r), /^tmp tmp\/w-99999-0011223344556677: leftover of a killed writer, untouched for 3h \(removed\)$/m);
  assert.match(out(r), /1 tmp leftovers removed/);
  assert.equal(await exists(leftover), false);
  assert.ok(await exists(young));
  const zero = run('fsck', '--tmp-age', '0', '--json');
  assert.equal(JSON.parse(out(zero)).tmp_removed, 1);
  assert.equal(await exists(young), false);
}));

test('pin add, ls, rm: presence checked, labels kept, clear errors and exit codes', () => withData(async (s, run) => {
  const t = await putTree(s.data, { f: randomBytes(1000, 30) });
  const b = await putBlob(s.data, randomBytes(500, 31));
  assert.equal(out(run('pin', 'ls')), '');
  const add = run('pin', 'add', hex(t.digest), hex(b), '--label', 'my stuff');
  assert.equal(add.status, 0, add.stderr);
  const ls = out(run('pin', 'ls'));
  const lines = ls.trim().split('\n').sort();
  assert.equal(lines.length, 2);
  const line = (d: string): string => lines.find((l) => l.startsWith(d))!;
  assert.match(line(hex(t.digest)), /^[0-9a-f]{64} {2}directory {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}my stuff$/);
  assert.match(line(hex(b)), /^[0-9a-f]{64} {2}blob {6}/);
  const j = JSON.parse(out(run('pin', 'ls', '--json')));
  assert.deepEqual(j.map((p: { digest: string; type: string; label: string }) => [p.digest, p.type, p.label]).sort(), [[hex(t.digest), 'directory', 'my stuff'], [hex(b), 'blob', 'my stuff']].sort());

  const absent = 'ab'.repeat(32);
  const no = run('pin', 'add', absent, hex(b));
  assert.equal(no.status, 1);
  assert.match(no.stderr, new RegExp(`^castor: pin add: ${absent} is not in the store .*nothing pinned\\n$`));
  const bad = run('pin', 'add', 'xyz');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /DIGEST/);
  assert.equal(run('pin', 'add').status, 2);
  assert.equal(run('pin', 'frob').status, 2);

  const rm1 = run('pin', 'rm', hex(b), absent);
  assert.equal(rm1.status, 1);
  assert.match(rm1.stderr, new RegExp(`pin rm: ${absent} is not pinned`));
  assert.deepEqual(JSON.parse(out(run('pin', 'ls', '--json'))).map((p: { digest: string }) => p.digest), [hex(t.digest)]);
}));

test('gc: removes what no pin keeps, keeps pinned trees whole; --dry-run and --json; --grace respected', () => withData(async (s, run) => {
  const kept = await putTree(s.data, { a: randomBytes(20_000, 40), sub: { b: randomBytes(3_000, 41) } });
  const gone = await putTree(s.data, { c: randomBytes(20_000, 42) });
  // Sealed as this process's exit would: gc never rewrites a pack a live writer may still append to.
  sealPacks();
  const goneChunks = (await s.data.blobs.stat(gone.files[0]!.digest))!.chunks.map((c) => hex(c.digest));
  const keptChunks = new Set<string>();
  for (const f of kept.files) for (const c of (await s.data.blobs.stat(f.digest))!.chunks) keptChunks.add(hex(c.digest));
  assert.ok(goneChunks.every((h) => packedHexes(s).has(h) && !keptChunks.has(h)), 'test set-up: the unpinned blob\'s chunks are packed, none shared');
  assert.equal(run('pin', 'add', hex(kept.digest)).status, 0);

  // Everything is fresh: the default grace (1h) keeps it all.
  const fresh = run('gc', '--json');
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.deepEqual(JSON.parse(out(fresh)).removed, { blobs: 0, dirs: 0, chunks: 0 });

  await ageAll(s, 2 * HOUR);
  const before = await filesUnder(s.root);
  const dry = run('gc', '--dry-run', '--grace', '0', '-v');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(out(dry), new RegExp(`^would remove directory ${hex(gone.digest)} \\d+$`, 'm'));
  assert.match(out(dry), new RegExp(`^would remove blob ${hex(gone.files[0]!.digest)} \\d+$`, 'm'));
  assert.match(out(dry), /^gc: would remove 1 blob records, 1 directories, \d+ chunks/m);
  assert.deepEqual(await filesUnder(s.root), before, 'dry run changed nothing');

  const r = run('gc', '--grace', '0', '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(out(r));
  assert.deepEqual({ blobs: j.removed.blobs, dirs: j.removed.dirs }, { blobs: 1, dirs: 1 });
  assert.ok(j.removed.chunks > 0 && j.bytes_freed > 20_000);
  assert.deepEqual(j.kept.blobs, 2);
  assert.equal(j.kept.dirs, 2);
  assert.equal(j.roots, 1);
  assert.equal(j.removed.chunks, goneChunks.length, 'every chunk of the unpinned blob, no more');
  assert.equal(await s.data.blobs.has(gone.files[0]!.digest), false);
  const left = packedHexes(s);
  assert.deepEqual(goneChunks.filter((h) => left.has(h)), [], 'its chunks are in no pack');
  assert.deepEqual([...keptChunks].filter((h) => !left.has(h)), [], 'every kept chunk is still packed');
  for (const f of kept.files) assert.deepEqual(await readBlob(s.data, f.digest), f.bytes);
  assert.equal(run('fsck').status, 0);

  // Unpinned, it goes too.
  assert.equal(run('pin', 'rm', hex(kept.digest)).status, 0);
  const all = JSON.parse(out(run('gc', '--grace', '0', '--json')));
  assert.deepEqual({ blobs: all.removed.blobs, dirs: all.removed.dirs }, { blobs: 2, dirs: 2 });
  assert.deepEqual(await filesUnder(s.data.layout.chunks), []);
  assert.deepEqual(await filesUnder(s.data.layout.packs), [], 'no pack (or index) is left holding anything');
}));

test('usage errors exit 2, a missing data dir exits 1 with one line, --help exits 0', async () => {
  for (const cmd of ['fsck', 'gc']) {
    const bad = castor([cmd, '--bogus']);
    assert.equal(bad.status, 2, `${cmd} --bogus`);
    const extra = castor([cmd, 'extra']);
    assert.equal(extra.status, 2);
    const help = castor([cmd, '--help']);
    assert.equal(help.status, 0);
    assert.match(out(help), new RegExp(`^usage: castor ${cmd}`));
  }
  assert.equal(castor(['pin', '--help']).status, 0);
  assert.match(castor(['gc', '--grace', 'soon']).stderr, /--grace: 'soon' is not a duration/);
  assert.equal(castor(['gc', '--grace', 'soon']).status, 2);
  assert.equal(castor(['fsck', '--tmp-age', '5x']).status, 2);
  const missing = path.join(os.tmpdir(), 'castor-no-such-dir-for-fsck');
  for (const args of [['fsck'], ['gc'], ['pin', 'ls']]) {
    const r = castor([...args, '--data-dir', missing]);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /^castor: data dir .* does not exist\n$/);
  }
});

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** Runs castor on `dir` bind-mounted read-only in a private user+mount namespace. */
function readOnlyCastor(dir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"';
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', dir, process.execPath, CLI, ...args, '--data-dir', dir], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const canBind = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"', 'sh', os.tmpdir()]).status === 0;

test('on a read-only data dir fsck still checks and reports (exit 1), moving nothing; gc refuses with one line', { skip: canBind ? false : 'unshare -rm with bind mounts is not allowed here' }, () => withData(async (s) => {
  const a = await putBlob(s.data, randomBytes(30_000, 80));
  await putBlob(s.data, randomBytes(30_000, 81));
  const victim = (await s.data.blobs.stat(a))!.chunks[1]!.digest;
  // Packed, its pack sealed (chunkAt), so only the read-only mount keeps fsck from rewriting it.
  const at = await chunkAt(s, victim);
  assert.ok(at.file.endsWith('.pack'), 'test set-up: the chunk is packed');
  await flipByte(at.file, at.offset + 10);
  const leftover = path.join(s.data.layout.tmp, 'w-7-0000000000000000');
  await mkdir(leftover);
  await age(leftover, 2 * HOUR);
  const before = await filesUnder(s.root);
  const r = readOnlyCastor(s.root, ['fsck']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`^chunk ${hex(victim)}: .*\\(not moved\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^blob ${hex(a)}: .*\\(not moved\\)$`, 'm'));
  assert.match(r.stdout, /read-only data dir: nothing moved/);
  const j = JSON.parse(readOnlyCastor(s.root, ['fsck', '--json']).stdout);
  assert.equal(j.read_only, true);
  assert.equal(j.quarantined, 0);
  assert.deepEqual(await filesUnder(s.root), before);
  assert.ok(await exists(leftover));

  await ageAll(s, 2 * HOUR);
  const gc = readOnlyCastor(s.root, ['gc', '--grace', '0']);
  assert.equal(gc.status, 1);
  assert.match(gc.stderr, /^castor: cannot write .*read-only.*\n$/);
  assert.deepEqual(await filesUnder(s.root), before);
  const dry = readOnlyCastor(s.root, ['gc', '--grace', '0', '--dry-run', '--json']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.equal(JSON.parse(dry.stdout).removed.blobs, 2);
}));
