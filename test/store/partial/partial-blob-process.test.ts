// PartialBlob across processes: a fetch killed with SIGKILL mid-way resumes in a new
// process and fetches only the groups it does not hold (counted); every bit the dead
// process left set names a group it wrote and whose bytes verify; a live fetch holds
// the partial against a second one; kills at many moments, including while the
// partial is being created, never leave a partial that breaks these rules.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { outboardOf } from '../../../src/verify/bao/index.js';
import { toHex } from '../../../src/verify/blake3/index.js';
import { asDigest } from '../../../src/store/digest.js';
import { openDataDir, type DataDir } from '../../../src/store/disk/data-dir.js';
import { PartialBlob } from '../../../src/store/partial/partial-blob.js';
import { collect, randomBytes } from '../blob-data.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'partial-child.js');
const G = 16 * 1024;

interface Child {
  proc: ChildProcess;
  lines: string[];
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
        void exit.then((code) => reject(new Error(`child exited (${code}) before the line came; got ${JSON.stringify(lines.slice(-5))}`)));
      });
    },
  };
}

async function kill(c: Child): Promise<void> {
  c.proc.kill('SIGKILL');
  await c.exit;
  // Lines already written to the pipe before the kill are still read: let them in.
  await new Promise((r) => setImmediate(r));
}

/**
 * Groups a child reported as written, those it started writing (a kill may land after a
 * group was stored but before its line), and the highest persisted count it reported.
 */
function progress(lines: string[]): { wrote: Set<number>; started: Set<number>; persisted: number } {
  const wrote = new Set<number>();
  const started = new Set<number>();
  let persisted = 0;
  for (const l of lines) {
    const w = /^writing (\d+)$/.exec(l);
    if (w) started.add(Number(w[1]));
    const m = /^wrote (\d+) (\d+)$/.exec(l);
    if (m) {
      wrote.add(Number(m[1]));
      persisted = Math.max(persisted, Number(m[2]));
    }
  }
  return { wrote, started, persisted };
}

function bits(hex: string, groups: number): number[] {
  const b = Buffer.from(hex, 'hex');
  const out: number[] = [];
  for (let i = 0; i < groups; i++) if ((b[i >> 3]! >> (i & 7)) & 1) out.push(i);
  return out;
}

/** Through a read-only view: every held group's bytes verify and equal the blob's. Resolves to the held groups. */
async function checkHeld(data: DataDir, digest: Uint8Array, bytes: Uint8Array): Promise<number[]> {
  const view = await PartialBlob.peek(data, asDigest(digest));
  if (!view) return [];
  try {
    const held: number[] = [];
    for (let i = 0; i < view.groupCount; i++) {
      if (!view.has(i)) continue;
      held.push(i);
      const got = await collect(view.read({ start: i * G, end: (i + 1) * G }));
      assert.ok(Buffer.from(got).equals(Buffer.from(bytes.subarray(i * G, (i + 1) * G))), `group ${i}`);
    }
    return held;
  } finally {
    await view.close();
  }
}

test('a fetch killed with SIGKILL resumes in a new process and fetches only the missing groups', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-partial-proc-'));
  try {
    const len = 4 * 1024 * 1024 + 5000;
    const seed = 11;
    const groups = Math.ceil(len / G);
    const bytes = randomBytes(len, seed);
    const digest = outboardOf(bytes, 4).hash;
    const data = await openDataDir(dir);

    // Quick up to 80 groups, then slow (40 ms a group, 7 s to go), so it is surely mid-way when killed.
    const first = child(['fetch', dir, String(len), String(seed), '16', '40', '80']);
    await first.line((l) => { const m = /^wrote \d+ (\d+)$/.exec(l); return m !== null && Number(m[1]) >= 64; });
    // While it runs, the partial is its own: a second fetch, here or in another process, is told so.
    await assert.rejects(PartialBlob.resume(data, asDigest(digest)), (e: unknown) => (e as { code?: string }).code === 'PARTIAL_BUSY' && String((e as Error).message).includes(String(first.proc.pid)));
    const other = child(['fetch', dir, String(len), String(seed), '16', '0']);
    assert.match(await other.line((l) => l.startsWith('busy ')), new RegExp(`busy process ${first.proc.pid}`));
    await other.exit;
    await kill(first);
    const before = progress(first.lines);
    assert.ok(before.wrote.size < groups, 'killed mid-way');

    // What the dead process left: every set bit is a group it wrote, verified; at least what it had persisted.
    const held = await checkHeld(data, digest, bytes);
    for (const i of held) assert.ok(before.started.has(i), `group ${i} held but never written`);
    assert.ok(held.length >= before.persisted, `${held.length} held, ${before.persisted} persisted`);
    assert.ok(held.length >= 64);

    // The second run (its stale lock broken) starts from exactly that and writes only the rest.
    const second = child(['fetch', dir, String(len), String(seed), '16', '0']);
    const start = await second.line((l) => l.startsWith('start '));
    assert.deepEqual(bits(start.slice(6), groups), held);
    const done = await second.line((l) => l.startsWith('complete '));
    assert.equal(await second.exit, 0);
    assert.equal(done, `complete ${toHex(digest)}`);
    const after = progress(second.lines);
    assert.equal(after.wrote.size, groups - held.length, 'the second run fetched only the missing groups');
    for (const i of held) assert.ok(!after.wrote.has(i), `group ${i} fetched again`);

    const stream = await data.blobs.read(asDigest(digest));
    assert.ok(stream);
    assert.ok(Buffer.from(await collect(stream)).equals(Buffer.from(bytes)));
    assert.deepEqual(await PartialBlob.list(data), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('killed at many moments, from creation on, a partial always resumes consistent and completes', { timeout: 90_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-partial-proc-'));
  try {
    const len = 1024 * 1024 + 123;
    const seed = 12;
    const bytes = randomBytes(len, seed);
    const digest = outboardOf(bytes, 4).hash;
    const data = await openDataDir(dir);
    const wroteEver = new Set<number>();
    let completed = false;
    let heldBefore = 0;
    // Every third kill lands while the partial is opened or created, the others mid-fetch.
    for (let round = 0; round < 9 && !completed; round++) {
      const c = child(['fetch', dir, String(len), String(seed), '4', '1']);
      let seen = 0;
      const after = round % 3 === 0
        ? (l: string): boolean => l === 'opening'
        : (l: string): boolean => l.startsWith('wrote ') && ++seen >= 3 + (round * 7) % 11;
      await c.line(after).catch(() => undefined);
      await new Promise((r) => setTimeout(r, round % 4));
      await kill(c);
      for (const i of progress(c.lines).started) wroteEver.add(i);
      completed = c.lines.some((l) => l.startsWith('complete '));
      if (completed) break;
      const held = await checkHeld(data, digest, bytes);
      for (const i of held) assert.ok(wroteEver.has(i), `round ${round}: group ${i} held but never written`);
      assert.ok(held.length >= heldBefore, `round ${round}: ${held.length} held, ${heldBefore} before`);
      heldBefore = held.length;
    }
    if (!completed) {
      const last = child(['fetch', dir, String(len), String(seed), '4', '0']);
      assert.equal(await last.exit, 0);
      assert.ok(last.lines.some((l) => l === `complete ${toHex(digest)}`), JSON.stringify(last.lines.slice(-3)));
    }
    const stream = await data.blobs.read(asDigest(digest));
    assert.ok(stream);
    assert.ok(Buffer.from(await collect(stream)).equals(Buffer.from(bytes)));
    assert.deepEqual(await PartialBlob.list(data), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
