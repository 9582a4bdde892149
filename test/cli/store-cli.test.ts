// The store commands as a user runs them: real processes on a real data dir. What must
// hold: a tree comes back exactly; bad input is a one-line error and a non-zero exit;
// nothing already stored is lost to a corrupt chunk, a killed add, a full or read-only
// disk, or two adds racing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeSync, openSync, statSync } from 'node:fs';
import { castor } from './run-cli.js';
import { scanPack } from '../../src/store/disk/packs/pack-format.js';
import { assertSameTree, makeAwkwardTree } from '../store/tree-fixture.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
let tmp: string;
before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-store-cli-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

const digestOf = (out: Buffer): string => out.toString().slice(0, 64);

describe('castor add / get / ls / stat / cat', () => {
  it('a tree added comes back exactly, and the listing, stat and cat agree with it', async () => {
    const data = path.join(tmp, 'data1');
    const src = path.join(tmp, 'tree1');
    const files = await makeAwkwardTree(src);
    const add = castor(['add', '--json', '--data-dir', data, src]);
    assert.equal(add.status, 0, add.stderr);
    const info = JSON.parse(add.stdout.toString()) as Record<string, unknown>;
    assert.equal(info['type'], 'directory');
    assert.equal(info['files'], files);
    assert.equal(info['new_bytes'], info['bytes']);
    const digest = info['digest'] as string;
    assert.deepEqual(await readdir(path.join(data, 'tmp')), [], 'add leaves nothing in tmp/, its staging dirs included');

    const out = path.join(tmp, 'out1');
    const get = castor(['get', '--data-dir', data, digest, out]);
    assert.equal(get.status, 0, get.stderr);
    await assertSameTree(out, src);
    assert.equal(castor(['get', '--data-dir', data, digest, out]).status, 1, 'refuses to overwrite');
    assert.equal(castor(['get', '--force', '--data-dir', data, digest, out]).status, 0);
    await assertSameTree(out, src);

    const ls = castor(['ls', '-r', '--json', '--data-dir', data, digest]);
    assert.equal(ls.status, 0, ls.stderr);
    const entries = ls.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; digest?: string; size?: number });
    assert.equal(entries.filter((e) => e.type === 'file').length, files);
    const hello = entries.find((e) => e.path === 'hello.txt')!;
    assert.ok(entries.some((e) => e.path === 'caf\\xe9'), 'non-UTF-8 names are escaped, not mangled');

    const stat = castor(['stat', '--json', '--data-dir', data, hello.digest!]);
    assert.deepEqual(JSON.parse(stat.stdout.toString()), { digest: hello.digest, type: 'blob', size: 14, chunks: 1, outboard_size: 8, groups: 1 });
    const big = entries.find((e) => e.path === 'big.bin')!;
    const whole = await readFile(path.join(src, 'big.bin'));
    assert.deepEqual(castor(['cat', '--data-dir', data, big.digest!]).stdout, whole);
    assert.deepEqual(castor(['cat', '--data-dir', data, big.digest!, '--range', '300000:300100']).stdout, whole.subarray(300000, 300100));
    assert.deepEqual(castor(['cat', '--data-dir', data, big.digest!, '--range', '690000:']).stdout, whole.subarray(690000));
  });

  it('bad input: a one-line error and the right exit status', async () => {
    const data = path.join(tmp, 'data2');
    const f = path.join(tmp, 'f2');
    await writeFile(f, 'some content');
    const d = digestOf(castor(['add', '--data-dir', data, f]).stdout);
    const cases: [string[], number, RegExp][] = [
      [['cat', '--data-dir', data, 'xyz'], 2, /not a digest/],
      [['cat', '--data-dir', data, '0'.repeat(64)], 1, /is not in the store/],
      [['ls', '--data-dir', path.join(tmp, 'nowhere'), d], 1, /data dir .*nowhere does not exist/],
      [['cat', '--data-dir', data, d, '--range', '9:3'], 2, /ends before it starts/],
      [['add', '--data-dir', data, path.join(tmp, 'missing')], 1, /missing: no such file or directory/],
      [['get', '--data-dir', data, d], 2, /expected DIGEST OUTPUT/],
      [['add', '--data-dir', data, '--bogus', f], 2, /bogus/],
    ];
    for (const [args, status, message] of cases) {
      const r = castor(args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('a corrupted chunk is refused on read, naming it; only verified bytes are written', async () => {
    const data = path.join(tmp, 'data3');
    const f = path.join(tmp, 'f3');
    const content = randomBytes(1 << 20);
    await writeFile(f, content);
    const d = digestOf(castor(['add', '--data-dir', data, f]).stdout);
    // Its chunks are appended to one pack, in order: damage the middle one's bytes there.
    const packs = (await readdir(path.join(data, 'packs'))).filter((n) => n.endsWith('.pack'));
    assert.equal(packs.length, 1, 'one pack holds the file\'s chunks');
    const file = path.join(data, 'packs', packs[0]!);
    const fd = openSync(file, 'r');
    const entries = scanPack(fd, 0, statSync(file).size).entries;
    closeSync(fd);
    assert.ok(entries.length > 4, `${entries.length} chunks`);
    const victim = entries[Math.floor(entries.length / 2)]!;
    const bytes = await readFile(file);
    bytes[victim.offset + 100] ^= 1;
    await writeFile(file, bytes);
    const r = castor(['cat', '--data-dir', data, d]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`chunk ${victim.hex}.* is corrupt`));
    assert.ok(r.stdout.length < content.length);
    assert.deepEqual(r.stdout, content.subarray(0, r.stdout.length), 'what was written is a verified prefix');
  });

  it('a corrupted packed small file is refused by get, naming it, and OUTPUT is removed', async () => {
    const data = path.join(tmp, 'data-packed');
    const t = path.join(tmp, 't-packed');
    await mkdir(t);
    const victimContent = randomBytes(9000);
    await writeFile(path.join(t, 'victim'), victimContent);
    for (let i = 0; i < 5; i++) await writeFile(path.join(t, `ok${i}`), randomBytes(3000));
    const root = digestOf(castor(['add', '--data-dir', data, t]).stdout);
    const victim = digestOf(castor(['hash', path.join(t, 'victim')]).stdout);
    let flipped = false;
    for (const name of await readdir(path.join(data, 'packs'))) {
      if (!name.endsWith('.pack')) continue;
      const file = path.join(data, 'packs', name);
      const fd = openSync(file, 'r');
      const entry = scanPack(fd, 0, statSync(file).size).entries.find((e) => e.hex === victim);
      closeSync(fd);
      if (entry === undefined) continue;
      const bytes = await readFile(file);
      bytes[entry.offset + 4321] ^= 1;
      await writeFile(file, bytes);
      flipped = true;
    }
    assert.ok(flipped, 'the small file was packed');
    const out = path.join(tmp, 'packed-out');
    const r = castor(['get', '--data-dir', data, root, out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`chunk ${victim}.* is corrupt`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    await assert.rejects(readdir(out), { code: 'ENOENT' }, 'nothing of the export is left');
  });

  it('two adds of overlapping trees racing on one data dir both succeed', async () => {
    const data = path.join(tmp, 'data4');
    const shared = Array.from({ length: 40 }, () => randomBytes(50_000));
    const trees = ['t-a', 't-b'].map((t) => path.join(tmp, t));
    for (const [i, t] of trees.entries()) {
      await mkdir(t);
      for (const [j, b] of shared.entries()) await writeFile(path.join(t, `f${j}`), b);
      await writeFile(path.join(t, 'own'), `tree ${i}`);
    }
    const run = (t: string): Promise<{ code: number | null; out: string; err: string }> => new Promise((resolve) => {
      const p = spawn(process.execPath, [CLI, 'add', '--data-dir', data, t]);
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      p.on('close', (code) => resolve({ code, out, err }));
    });
    const results = await Promise.all(trees.map(run));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, r.err);
      const out = path.join(tmp, `race-out-${i}`);
      assert.equal(castor(['get', '--data-dir', data, r.out.slice(0, 64), out]).status, 0);
      await assertSameTree(out, trees[i]!);
    }
    assert.deepEqual(await readdir(path.join(data, 'tmp')), [], 'no leftovers from finished writers');
  });
});

/** Runs `script` in a private user+mount namespace with $1 = dir, $2 = node, $3 = the CLI. */
function inNamespace(dir: string, script: string): { status: number | null; out: string; err: string } {
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', dir, process.execPath, CLI], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
const canMount = inNamespace(os.tmpdir(), 'mount -t tmpfs -o size=64k tmpfs "$1"').status === 0;
const skipMount = canMount ? false : 'unshare -rm with tmpfs mounts is not allowed here';

/** The add on the full disk failed with one "no space left" line, and what was stored before (`before`) still reads. */
function assertFullDiskRefused(r: { status: number | null; out: string; err: string }, before: string): void {
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /add-status=1/);
  assert.match(r.err, /no space left on the device/);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  assert.ok(r.out.includes(before));
}

describe('castor add on a full or read-only disk', () => {
  it('a full disk: exit 1 with "no space left", what was stored still reads', { skip: skipMount }, async () => {
    const dir = await mkdtemp(path.join(tmp, 'full-'));
    const small = path.join(tmp, 'small-file');
    const big = path.join(tmp, 'big-file');
    await writeFile(small, 'stored before the disk filled');
    await writeFile(big, randomBytes(3 << 20));
    const r = inNamespace(dir, [
      'mount -t tmpfs -o size=2m tmpfs "$1"',
      `d=$("$2" "$3" add --data-dir "$1/data" ${small} | cut -c1-64)`,
      `"$2" "$3" add --data-dir "$1/data" ${big}; echo "add-status=$?"`,
      '"$2" "$3" cat --data-dir "$1/data" "$d"',
      'ls -A "$1/data/tmp"',
    ].join(' && '));
    assertFullDiskRefused(r, 'stored before the disk filled');
    assert.doesNotMatch(r.out.split('stored before the disk filled')[1]!, /\S/, 'tmp/ is empty again');
  });

  it('a disk that fills while small files are packed: exit 1 with "no space left", the pack keeps no torn entry, what was stored still reads', { skip: skipMount }, async () => {
    const dir = await mkdtemp(path.join(tmp, 'full-packs-'));
    const small = path.join(tmp, 'small-before-packs');
    await writeFile(small, 'packed before the disk filled');
    const tree = path.join(tmp, 'many-small');
    await mkdir(tree, { recursive: true });
    for (let i = 0; i < 200; i++) await writeFile(path.join(tree, `f${i}`), randomBytes(8000));
    const packsCopy = path.join(tmp, 'full-packs-copy');
    const r = inNamespace(dir, [
      'mount -t tmpfs -o size=1m tmpfs "$1"',
      `d=$("$2" "$3" add --data-dir "$1/data" ${small} | cut -c1-64)`,
      `"$2" "$3" add --data-dir "$1/data" ${tree}; echo "add-status=$?"`,
      '"$2" "$3" cat --data-dir "$1/data" "$d"; echo',
      '"$2" "$3" fsck --data-dir "$1/data" --dry-run; echo "fsck-status=$?"',
      `cp -r "$1/data/packs" ${packsCopy}`,
    ].join(' && '));
    assertFullDiskRefused(r, 'packed before the disk filled');
    assert.match(r.out, /fsck-status=0/, r.out);
    // The append that failed was cut off again: every pack ends at the end of a whole entry.
    const packs = (await readdir(packsCopy)).filter((n) => n.endsWith('.pack'));
    assert.ok(packs.length > 0);
    for (const name of packs) {
      const file = path.join(packsCopy, name);
      const fd = openSync(file, 'r');
      try {
        assert.equal(scanPack(fd, 0, statSync(file).size).stop, statSync(file).size, name);
      } finally {
        closeSync(fd);
      }
    }
  });

  it('a read-only data dir: add is refused with READ_ONLY, reads work', { skip: skipMount }, async () => {
    const dir = await mkdtemp(path.join(tmp, 'ro-'));
    const small = path.join(tmp, 'small-ro');
    await writeFile(small, 'readable on a read-only mount');
    const r = inNamespace(dir, [
      'mount -t tmpfs -o size=4m tmpfs "$1"',
      `d=$("$2" "$3" add --data-dir "$1/data" ${small} | cut -c1-64)`,
      'mount -o remount,ro "$1"',
      `"$2" "$3" add --data-dir "$1/data" ${small}; echo "add-status=$?"`,
      '"$2" "$3" cat --data-dir "$1/data" "$d"',
    ].join(' && '));
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /add-status=1/);
    assert.match(r.err, /read-only/);
    assert.ok(r.out.includes('readable on a read-only mount'));
  });
});
