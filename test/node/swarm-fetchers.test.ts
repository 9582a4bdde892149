// One seeder, four fetchers started together on the same blob, each connected to the
// seeder and to the other fetchers: all of them complete with identical bytes, and the
// fetchers serve each other groups they verified while still downloading (the blob bytes
// each node served are counted), so the seeder does not serve all four copies alone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerId } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { fetchBlob } from '../../src/node/fetch/fetch-blob.js';
import { servedBytes } from '../../src/node/swarm/served-bytes.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, readBlob, startSeeder, stopSeeder, type Seeded, type ServerProcess } from './node-fixture.js';

const SIZE = 64 << 20;
const FETCHERS = 4;
let seeded: Seeded | undefined;
let root: string;
let bytes: Uint8Array;
let digest: Digest;
let seeder: ServerProcess;

before(async () => {
  seeded = await startSeeder('swarm-fetchers', SIZE);
  ({ root, bytes, digest, seeder } = seeded);
});

after(() => stopSeeder(seeded));

function peerOf(node: CastorNode, id: string): PeerId {
  return node.host.getPeers().find((p) => p.toString() === id)!;
}

test('one seeder, four fetchers at once: all complete, and the fetchers serve each other', async () => {
  const nodes: CastorNode[] = [];
  try {
    for (let i = 0; i < FETCHERS; i++) nodes.push(await CastorNode.start(await dataDir(root, `f${i}`), { listen: ['/ip4/127.0.0.1/tcp/0'] }));
    for (const n of nodes) await n.connect(seeder.address);
    for (let i = 0; i < FETCHERS; i++) for (let j = i + 1; j < FETCHERS; j++) await nodes[i]!.connect(nodes[j]!.addresses()[0]!);
    const peersOf = (n: CastorNode): PeerId[] => [seeder.peerId, ...nodes.filter((m) => m !== n).map((m) => m.peerId)].map((id) => peerOf(n, id));

    const results = await Promise.all(nodes.map((n) => fetchBlob({ host: n.host, data: n.data }, digest, peersOf(n))));

    for (const [i, n] of nodes.entries()) {
      assert.equal(results[i]!.size, SIZE);
      assert.ok(Buffer.from(await readBlob(n.data, digest)).equals(bytes), `fetcher ${i} holds the right bytes`);
    }
    const byFetchers = nodes.reduce((sum, n) => sum + servedBytes(n.data).total, 0);
    const bySeeder = (await seeder.served()).served.total;
    const fromFetchers = results.reduce((sum, r) => sum + Object.entries(r.fromPeers ?? {}).filter(([p]) => p !== seeder.peerId).reduce((s, [, b]) => s + b, 0), 0);
    assert.ok(byFetchers > 0, `the fetchers served ${byFetchers} bytes (the seeder ${bySeeder})`);
    assert.ok(fromFetchers > 0, `fetchers delivered ${fromFetchers} bytes to each other`);
    // Everything the fetchers got came from somebody: the seeder served less than four copies.
    assert.ok(bySeeder < FETCHERS * SIZE * 1.01, `the seeder served ${bySeeder} bytes`);
  } finally {
    for (const n of nodes) await n.stop();
  }
});
