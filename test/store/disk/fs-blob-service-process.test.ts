// FsBlobService across processes: a writer killed with SIGKILL at any moment, two processes
// writing overlapping content into one data dir at once, and a full or read-only disk
// (a tmpfs inside a private mount namespace, skipped where unshare is not allowed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3, toHex } from '../../../src/verify/blake3/index.js';
import { asDigest, parseDigest } from '../../../src/store/digest.js';
import { FsBlobService } from '../../../src/store/disk/fs-blob-service.js';
import { listPacks, readPackView } from '../../../src/store/disk/packs/pack-index.js';
import { readAll } from '../blob-service-suite.js';
import { overlappingBlobs, randomBytes } from '../blob-data.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fs-store-child.js');
const TIMEOUT = { timeout: 20_000 };

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'castor-fs-proc-'));
}

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first line (already seen or yet to come) that `match` accepts. */
  line(match: (l: string) => boolean): Promise<string>;
  exit: Promise<number | null>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) {
      if (w.match(l)) w.resolve(l);
      else waiters.push(w);
    }
  });
  const exit = once(proc, 'exit').then(([code]) => code as number | null);
  return {
    proc, lines, exit,
    line: (match) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exit.then((code) => reject(new Error(`child exited (${code}) before the line came; got ${JSON.stringify(lines)}`)));
      });
    },
  };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath ?? e.path, e.name));
  }
  return out;
}

/**
 * Every chunk, packed or a file, hashes to its name (a scan counts only whole entries:
 * nothing partial is visible under a digest); every record reads back whole, verified, to
 * its digest. `chunks` counts both kinds.
 */
async function checkDataDir(dir: string): Promise<{ chunks: number; blobs: number }> {
  const s = await FsBlobService.open(dir);
  const chunkFiles = await files(s.layout.chunks);
  for (const f of chunkFiles) {
    const name = path.basename(path.dirname(f)) + path.basename(f);
    assert.equal(toHex(blake3(await readFile(f))), name, `chunk file ${f}`);
  }
  let packed = 0;
  for (const pack of listPacks(s.layout.packs)) {
    const bytes = await readFile(pack);
    for (const e of readPackView(pack)?.entries ?? []) {
      assert.equal(toHex(blake3(bytes.subarray(e.offset, e.offset + e.size))), e.hex, `entry at ${e.offset} of ${pack}`);
      packed++;
    }
  }
  const records = await files(s.layout.blobs);
  for (const f of records) {
    const d = parseDigest(path.basename(path.dirname(f)) + path.basename(f));
    const bytes = await readAll(s, d);
    assert.equal(toHex(blake3(bytes)), toHex(d), `blob ${f}`);
  }
  return { chunks: chunkFiles.length + packed, blobs: records.length };
}

test('a writer killed with SIGKILL mid-write leaves no record, and only whole chunks that verify', TIMEOUT, async () => {
  const dir = await tempDir();
  try {
    const size = 16 << 20;
    const c = child(['slow', dir, String(size), '51']);
    await c.line((l) => l === 'wrote 4194304');
    // Killed once some chunks are appended to its pack, while the blob is still being written.
    const packs = path.join(dir, 'packs');
    const packedBytes = async (): Promise<number> => {
      let n = 0;
      for (const p of listPacks(packs)) n += (await stat(p)).size;
      return n;
    };
    for (let i = 0; i < 600 && (await packedBytes()) < 1 << 20; i++) await new Promise((r) => setTimeout(r, 5));
    c.proc.kill('SIGKILL');
    assert.equal(await c.exit, null);
    const s = await FsBlobService.open(dir);
    assert.equal(await s.has(asDigest(blake3(randomBytes(size, 51)))), false, 'no record');
    const seen = await checkDataDir(dir);
    assert.equal(seen.blobs, 0);
    assert.ok(seen.chunks > 0, 'whole chunks appended before the kill are there (gc reclaims them), and each verifies');
    assert.deepEqual(await readdir(s.layout.tmp), [], 'a writer keeps nothing in tmp/ before close');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a writer killed during close leaves only chunks and records that verify', TIMEOUT, async (t) => {
  const size = 3 << 20;
  const digest = asDigest(blake3(randomBytes(size, 52)));
  for (const delayMs of [0, 10, 30]) {
    const dir = await tempDir();
    try {
      const c = child(['slow', dir, String(size), '52']);
      await c.line((l) => l === 'closing');
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      c.proc.kill('SIGKILL');
      await c.exit;
      const seen = await checkDataDir(dir);
      const s = await FsBlobService.open(dir);
      if (seen.blobs > 0) assert.equal((await readAll(s, digest)).length, size);
      t.diagnostic(`killed ${delayMs} ms into close: ${seen.chunks} chunks and ${seen.blobs} records visible`);
      await s.cleanTemp(0);
      assert.deepEqual(await readdir(s.layout.tmp), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('two processes writing overlapping content at once both succeed and every blob verifies', TIMEOUT, async () => {
  const dir = await tempDir();
  try {
    await FsBlobService.open(dir);
    const procs = [child(['overlap', dir, '1']), child(['overlap', dir, '2'])];
    assert.deepEqual(await Promise.all(procs.map((p) => p.exit)), [0, 0]);
    const s = await FsBlobService.open(dir);
    for (const [i, p] of procs.entries()) {
      const blobs = overlappingBlobs(i + 1);
      assert.equal(p.lines.length, blobs.length);
      for (const [j, hex] of p.lines.entries()) {
        assert.equal(hex, toHex(blake3(blobs[j]!)));
        assert.ok(Buffer.from(await readAll(s, parseDigest(hex))).equals(Buffer.from(blobs[j]!)));
      }
    }
    const seen = await checkDataDir(dir);
    assert.equal(seen.blobs, 7, 'the shared blob is one record');
    assert.deepEqual(await readdir(s.layout.tmp), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Runs `script` in a private user+mount namespace with $1 = dir, $2 = node, $3 = the child script. */
function inNamespace(dir: string, script: string): { status: number | null; out: string; err: string } {
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', dir, process.execPath, CHILD], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const canMount = inNamespace(os.tmpdir(), 'mount -t tmpfs -o size=64k tmpfs "$1"').status === 0;
const skipMount = canMount ? false : 'unshare -rm with tmpfs mounts is not allowed here';

function lastJson(out: string): Record<string, unknown> {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

test('a full disk is DISK_FULL naming the path; staged data is removed and stored blobs stay', { ...TIMEOUT, skip: skipMount }, async () => {
  const dir = await tempDir();
  try {
    const r = inNamespace(dir, 'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" "$3" fill "$1"');
    assert.equal(r.status, 0, r.err);
    const res = lastJson(r.out);
    assert.equal(res.code, 'DISK_FULL');
    assert.ok(String(res.message).includes(dir), String(res.message));
    assert.deepEqual(res.tmp, []);
    assert.equal(res.smallReads, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a read-only data dir still reads, and writing is READ_ONLY naming the path', { ...TIMEOUT, skip: skipMount }, async () => {
  const dir = await tempDir();
  try {
    const r = inNamespace(dir, [
      'mount -t tmpfs -o size=4m tmpfs "$1"', '"$2" "$3" populate "$1"', 'mount -o remount,ro "$1"', 'exec "$2" "$3" read-only "$1"',
    ].join(' && '));
    assert.equal(r.status, 0, r.err);
    const res = lastJson(r.out);
    assert.equal(res.code, 'READ_ONLY');
    assert.ok(String(res.message).includes(dir), String(res.message));
    assert.equal(res.ok, true);
    const empty = inNamespace(dir, 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" "$3" read-only-empty "$1"');
    assert.equal(empty.status, 0, empty.err);
    const fresh = lastJson(empty.out);
    assert.equal(fresh.code, 'READ_ONLY');
    assert.equal(fresh.has, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
