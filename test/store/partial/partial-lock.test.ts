// The lock file of a partial blob: exclusive while its owner lives, broken when the owner
// is gone (no such pid, or the pid now names a process started at another time, or the
// file is unreadable), never broken for another host; waiting; what killed processes
// leave in partial/ swept by list.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileLock, LockHeldError } from '../../../src/store/partial/partial-lock.js';
import { outboardOf } from '../../../src/verify/bao/index.js';
import { asDigest } from '../../../src/store/digest.js';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { PartialBlob } from '../../../src/store/partial/partial-blob.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'castor-lock-'));
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

test('a lock is exclusive while its owner lives, and released for the next', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'x.lock');
    const a = await FileLock.acquire(file);
    await assert.rejects(FileLock.acquire(file), (e: unknown) => e instanceof LockHeldError && e.holder === `process ${process.pid}`);
    const t = Date.now();
    await assert.rejects(FileLock.acquire(file, 200), LockHeldError);
    assert.ok(Date.now() - t >= 190, 'waited');
    const waiting = FileLock.acquire(file, 5000);
    setTimeout(() => void a.release(), 100);
    const b = await waiting;
    assert.equal(b.held, true);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pid, process.pid);
    await b.release();
    await b.release();
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stale locks are broken: dead pid, reused pid, unreadable; another host\'s lock is not', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'x.lock');
    const host = os.hostname();
    const stale = [
      JSON.stringify({ pid: Number(deadPid()), start: null, host }),
      JSON.stringify({ pid: process.pid, start: '1', host }),
      '{"pid": 12',
      '',
    ];
    for (const text of stale) {
      await writeFile(file, text);
      const l = await FileLock.acquire(file);
      await l.release();
    }
    await writeFile(file, JSON.stringify({ pid: 1, start: null, host: `${host}-elsewhere` }));
    await assert.rejects(FileLock.acquire(file), (e: unknown) => e instanceof LockHeldError && e.holder.includes('elsewhere'));
    await rm(file);
    // Many racing to break one stale lock: exactly one holds it at a time.
    await writeFile(file, JSON.stringify({ pid: Number(deadPid()), start: null, host }));
    let holders = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      const l = await FileLock.acquire(file, 10_000);
      holders++;
      most = Math.max(most, holders);
      await new Promise((r) => setTimeout(r, 5));
      holders--;
      await l.release();
    }));
    assert.equal(most, 1);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('list sweeps what killed processes left in partial/, and keeps partials', async () => {
  const dir = await tempDir();
  try {
    const data = await openDataDir(dir);
    const bytes = new Uint8Array(50_000).fill(7);
    const ob = outboardOf(bytes, 4);
    const d = asDigest(ob.hash);
    const p = await PartialBlob.begin(data, d, bytes.length, ob.outboard);
    await p.close();
    const hex = Buffer.from(d).toString('hex');
    const other = 'ab'.repeat(32);
    const dead = Number(deadPid());
    await mkdir(path.join(data.layout.partial, `.trash-${dead}-0011`));
    await writeFile(path.join(data.layout.partial, `.trash-${dead}-0011`, 'content'), 'x');
    await writeFile(path.join(data.layout.partial, `${other}.lock.${dead}-abcd`), '{}');
    await mkdir(path.join(data.layout.partial, `${other}.new`));
    // A live process's trash and a staging dir under a live lock stay.
    await mkdir(path.join(data.layout.partial, `.trash-${process.pid}-0022`));
    const third = 'cd'.repeat(32);
    await mkdir(path.join(data.layout.partial, `${third}.new`));
    const held = await FileLock.acquire(path.join(data.layout.partial, `${third}.lock`));
    assert.deepEqual((await PartialBlob.list(data)).map((x) => Buffer.from(x).toString('hex')), [hex]);
    assert.deepEqual((await readdir(data.layout.partial)).sort(), [`.trash-${process.pid}-0022`, hex, `${third}.lock`, `${third}.new`].sort());
    await held.release();
    await PartialBlob.list(data);
    assert.deepEqual((await readdir(data.layout.partial)).sort(), [`.trash-${process.pid}-0022`, hex].sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
