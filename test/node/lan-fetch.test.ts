// castor fetch on shaped links between network namespaces (test/support/netns.ts), with
// real `castor daemon` seeders and `castor fetch` processes: several slow seeders each
// serve a share of one blob; a seeder killed mid-fetch and a link that drops to zero for
// a few seconds do not stop the fetch. The links are slow enough that these events
// happen in the middle of a fetch; every assertion is about order or content, none about
// time. Needs root (network namespaces); skipped, saying why, elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { castorOn, startCastorOn, startDaemon, type Daemon } from '../support/castor-procs.js';
import { namespacesUnavailable, VirtualNetwork, type NodeSpec } from '../support/netns.js';
import { removeDir, tempDir } from './node-fixture.js';

const why = namespacesUnavailable();
const skip = why === undefined ? false : `needs network namespaces: ${why}`;
const TIMEOUT_MS = 120_000;

interface Lan {
  readonly net: VirtualNetwork;
  readonly dir: string;
  readonly blob: Buffer;
  readonly digest: string;
  readonly seeders: Daemon[];
}

/** Seeders (a copy each of one data dir holding a random blob of `size`) and a fetcher node, on `specs`. */
async function lan(specs: NodeSpec[], seeders: string[], size: number): Promise<Lan> {
  const dir = await tempDir('lan-fetch');
  const net = await VirtualNetwork.create(specs);
  try {
    const blob = Buffer.alloc(size);
    randomFillSync(blob);
    const file = path.join(dir, 'blob');
    await writeFile(file, blob);
    const first = path.join(dir, `seed-${seeders[0]!}`);
    const add = await castorOn(net, seeders[0]!, ['add', file, '--json', '--data-dir', first]);
    assert.equal(add.code, 0, add.stderr);
    const digest = (JSON.parse(add.stdout.trim()) as { digest: string }).digest;
    // Copies made before any daemon ran: each makes an identity of its own.
    for (const s of seeders.slice(1)) await cp(first, path.join(dir, `seed-${s}`), { recursive: true });
    const ds = await Promise.all(seeders.map((s) => startDaemon(net, s, path.join(dir, `seed-${s}`), ['--no-mdns', '--no-dht'])));
    return { net, dir, blob, digest, seeders: ds };
  } catch (err: unknown) {
    await net.close();
    await removeDir(dir);
    throw err;
  }
}

async function close(l: Lan): Promise<void> {
  await l.net.close();
  await removeDir(l.dir);
}

/** Resolves once `node` has received `bytes` on its link; rejects if `stop` settles first. */
async function received(l: Lan, node: string, bytes: number, stop: Promise<unknown>): Promise<void> {
  let done = false;
  void stop.then(() => { done = true; }, () => { done = true; });
  for (;;) {
    if ((await l.net.linkBytes(node)).rx >= bytes) return;
    if (done) throw new Error(`the fetch ended before ${node} had received ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('four seeders on slow uplinks: each serves a share, the fetched blob is identical', { skip, timeout: TIMEOUT_MS }, async (t) => {
  const size = 4 << 20;
  const seeds = ['s1', 's2', 's3', 's4'];
  // 4 Mbit/s uplinks: the fetch takes seconds, longer than dialling any seeder.
  const l = await lan([...seeds.map((name) => ({ name, upMbit: 4, downMbit: 100 })), { name: 'fetch', upMbit: 100, downMbit: 100 }], seeds, size);
  try {
    const before = await Promise.all(seeds.map(async (s) => (await l.net.linkBytes(s)).tx));
    const out = path.join(l.dir, 'out');
    const r = await castorOn(l.net, 'fetch', ['fetch', l.digest, out, ...l.seeders.flatMap((d) => ['--peer', d.address]), '--data-dir', path.join(l.dir, 'fetcher')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(out)).equals(l.blob), 'OUTPUT is the blob');
    const sent = await Promise.all(seeds.map(async (s, i) => (await l.net.linkBytes(s)).tx - before[i]!));
    t.diagnostic(`bytes each seeder sent on its link: ${sent.join(', ')}`);
    for (const [i, b] of sent.entries()) assert.ok(b >= size / 16, `seeder ${seeds[i]} sent ${b} bytes of a ${size}-byte blob (all: ${sent.join(', ')})`);
  } finally {
    await close(l);
  }
});

test('a seeder killed mid-fetch: the fetch finishes from the other, the blob is identical', { skip, timeout: TIMEOUT_MS }, async () => {
  const size = 3 << 20;
  const l = await lan([{ name: 's1', upMbit: 3, downMbit: 100 }, { name: 's2', upMbit: 3, downMbit: 100 }, { name: 'fetch', upMbit: 100, downMbit: 100 }], ['s1', 's2'], size);
  try {
    const out = path.join(l.dir, 'out');
    const f = startCastorOn(l.net, 'fetch', ['fetch', l.digest, out, '--peer', l.seeders[0]!.address, '--peer', l.seeders[1]!.address, '--data-dir', path.join(l.dir, 'fetcher')]);
    let ended = false;
    void f.done.then(() => { ended = true; }, () => { ended = true; });
    await received(l, 'fetch', 1 << 20, f.done);
    l.seeders[0]!.child.kill('SIGKILL');
    assert.equal(ended, false, 'the fetch was still running when the seeder was killed');
    const r = await f.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(out)).equals(l.blob), 'OUTPUT is the blob');
  } finally {
    await close(l);
  }
});

test('the link drops to zero for a few seconds mid-fetch: the fetch goes on once it is back, the blob is identical', { skip, timeout: TIMEOUT_MS }, async () => {
  const size = 3 << 20;
  const l = await lan([{ name: 's1', upMbit: 3, downMbit: 100 }, { name: 'fetch', upMbit: 100, downMbit: 100 }], ['s1'], size);
  try {
    const out = path.join(l.dir, 'out');
    const f = startCastorOn(l.net, 'fetch', ['fetch', l.digest, out, '--peer', l.seeders[0]!.address, '--data-dir', path.join(l.dir, 'fetcher')]);
    let ended = false;
    void f.done.then(() => { ended = true; }, () => { ended = true; });
    await received(l, 'fetch', 1 << 20, f.done);
    await l.net.cut('fetch');
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(ended, false, 'the fetch was still running when the link came back');
    await l.net.restore('fetch');
    const r = await f.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(out)).equals(l.blob), 'OUTPUT is the blob');
  } finally {
    await close(l);
  }
});
