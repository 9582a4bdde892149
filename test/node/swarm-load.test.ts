// Fifty fetches of one blob at once against one seeder (ten client nodes, five fetches
// each into data dirs of their own): every fetch completes with the right blob or fails
// with a clear BUSY; none hangs (the test's timeout bounds them); the seeder's memory
// stays bounded while it serves them all.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CastorNode } from '../../src/node/castor-node.js';
import { NotFoundOnPeersError, RemoteError } from '../../src/node/errors.js';
import { fetchBlob } from '../../src/node/fetch/fetch-blob.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, readBlob, startSeeder, stopSeeder, type Seeded, type ServerProcess } from './node-fixture.js';

const SIZE = 8 << 20;
const CLIENTS = 10;
const PER_CLIENT = 5;
/** The seeder's peak RSS bound: node and libp2p take about 100 MiB; fifty streams must not add a copy of the blob each. */
const MAX_SEEDER_RSS_MIB = 400;
let seeded: Seeded | undefined;
let root: string;
let bytes: Uint8Array;
let digest: Digest;
let seeder: ServerProcess;

before(async () => {
  seeded = await startSeeder('swarm-load', SIZE);
  ({ root, bytes, digest, seeder } = seeded);
});

after(() => stopSeeder(seeded));

/** A failure that says the seeder was busy (directly, or as every reason of NOT_FOUND). */
function isBusy(err: unknown): boolean {
  if (err instanceof RemoteError) return err.remoteCode === 'BUSY';
  return err instanceof NotFoundOnPeersError && err.failures.length > 0 && err.failures.every(isBusy);
}

test('fifty concurrent fetches against one seeder: each completes or is told BUSY, and the seeder stays bounded', { timeout: 240_000 }, async () => {
  const clients: CastorNode[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const node = await CastorNode.start(await dataDir(root, `client-${i}`), { listen: [] });
      await node.connect(seeder.address);
      clients.push(node);
    }
    const fetches = await Promise.allSettled(Array.from({ length: CLIENTS * PER_CLIENT }, async (_, k) => {
      const node = clients[k % CLIENTS]!;
      const data = await dataDir(root, `fetch-${k}`);
      const peer = node.host.getPeers().find((p) => p.toString() === seeder.peerId)!;
      await fetchBlob({ host: node.host, data }, digest, [peer]);
      return data;
    }));
    let done = 0;
    for (const f of fetches) {
      if (f.status === 'rejected') {
        assert.ok(isBusy(f.reason), `a failure other than BUSY: ${String(f.reason)}`);
        continue;
      }
      done++;
      if (done <= 3) assert.ok(Buffer.from(await readBlob(f.value, digest)).equals(bytes));
      else assert.equal(await f.value.blobs.has(digest), true);
    }
    assert.ok(done > 0, 'some fetches completed');
    const s = await seeder.served();
    assert.ok(s.maxRssKiB / 1024 < MAX_SEEDER_RSS_MIB, `seeder peak RSS ${Math.round(s.maxRssKiB / 1024)} MiB`);
    assert.ok(s.served.total >= done * SIZE, `served ${s.served.total} bytes for ${done} fetches`);
  } finally {
    for (const c of clients) await c.stop();
  }
});
