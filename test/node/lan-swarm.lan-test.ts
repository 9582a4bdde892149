// Scenario 3 of issue 18, small: one seeder on a slow uplink and three fetchers on fast
// links, every node a `castor daemon` in a network namespace of its own (mDNS on, as a
// user runs it), the fetchers started together once they found each other by mDNS.
// Each gets the blob intact, and the fetchers serve each other what they verified (the
// bytes they send on their links), so the seeder's uplink is not the only source.
// Needs root (network namespaces); skipped, saying why, elsewhere.
//
// Not in npm test (the file name does not end in .test.ts): it passed once under load 21
// (124 s) and timed out at 180 s under load 33, where bench:lan scenario 3 saw mDNS
// peers connect and drop again and fetches fail with no peer connected. Run it alone:
// node --test dist/test/node/lan-swarm.lan-test.js

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { castorOn, daemonPeers, startDaemon, type Daemon } from '../support/castor-procs.js';
import { namespacesUnavailable, VirtualNetwork } from '../support/netns.js';
import { removeDir, tempDir } from './node-fixture.js';

const why = namespacesUnavailable();
const skip = why === undefined ? false : `needs network namespaces: ${why}`;
const FOUND_TIMEOUT_MS = 60_000;

async function waitForPeers(net: VirtualNetwork, d: Daemon, want: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const n = (await daemonPeers(net, d.node, d.dataDir)).length;
    if (n >= want) return;
    if (performance.now() - t0 > FOUND_TIMEOUT_MS) assert.fail(`${d.node} found ${n} of ${want} peers by mDNS:\n${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('one slow seeder, three fetchers found by mDNS started together: each blob identical, the fetchers serve each other', { skip, timeout: 180_000 }, async (t) => {
  const size = 4 << 20;
  const fetchers = ['f1', 'f2', 'f3'];
  const dir = await tempDir('lan-swarm');
  // 8 Mbit/s: the seeder alone needs seconds per copy, time enough for fetchers to trade.
  const net = await VirtualNetwork.create([{ name: 'seed', upMbit: 8, downMbit: 100 }, ...fetchers.map((name) => ({ name, upMbit: 100, downMbit: 100 }))]);
  try {
    const blob = Buffer.alloc(size);
    randomFillSync(blob);
    const file = path.join(dir, 'blob');
    await writeFile(file, blob);
    const add = await castorOn(net, 'seed', ['add', file, '--json', '--data-dir', path.join(dir, 'seed')]);
    assert.equal(add.code, 0, add.stderr);
    const digest = (JSON.parse(add.stdout.trim()) as { digest: string }).digest;
    const seeder = await startDaemon(net, 'seed', path.join(dir, 'seed'));
    const ds = await Promise.all(fetchers.map((f) => startDaemon(net, f, path.join(dir, f))));
    await Promise.all(ds.map((d) => waitForPeers(net, d, fetchers.length)));
    const before = await Promise.all(['seed', ...fetchers].map(async (n) => (await net.linkBytes(n)).tx));
    const runs = await Promise.all(ds.map((d) => castorOn(net, d.node, ['fetch', digest, path.join(dir, `out-${d.node}`), '--data-dir', d.dataDir])));
    for (const [i, r] of runs.entries()) assert.equal(r.code, 0, `${fetchers[i]}: ${r.stderr}`);
    for (const f of fetchers) assert.ok((await readFile(path.join(dir, `out-${f}`))).equals(blob), `${f}'s OUTPUT is the blob`);
    const sent = await Promise.all(['seed', ...fetchers].map(async (n, i) => (await net.linkBytes(n)).tx - before[i]!));
    const byFetchers = sent.slice(1).reduce((a, b) => a + b, 0);
    const detail = `bytes sent on each link: seed ${sent[0]}, ${fetchers.map((f, i) => `${f} ${sent[i + 1]}`).join(', ')}`;
    t.diagnostic(detail);
    assert.ok(byFetchers >= size / 2, `the fetchers sent each other ${byFetchers} bytes, less than half a blob; ${detail}`);
    assert.ok(sent[0]! < fetchers.length * size, `the seeder sent every copy itself; ${detail}`);
    for (const d of [...ds, seeder]) await d.stop();
  } finally {
    await net.close();
    await removeDir(dir);
  }
});
