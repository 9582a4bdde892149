// Many peers at once: four seeders, one fetcher. Groups come from all four; a seeder
// killed (SIGKILL) mid-fetch does not stop it, nor one that stops answering (SIGSTOP:
// its units are re-assigned after stallMs); a seeder that flips a byte (a hostile peer,
// test/support/hostile-peer.ts) is caught by the verifying decoder, hung up on and named,
// and the others finish the blob, which holds exactly the right bytes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import type { PeerId } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { fetchBlob, type PeerDroppedEvent } from '../../src/node/fetch/fetch-blob.js';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { startHostile } from '../support/hostile-process.js';

// Large enough for every lane to come back for a unit past the middle, where `flip` lies.
const SIZE = 64 << 20;
let root: string;
let bytes: Uint8Array;
let digest: Digest;
const started: ServerProcess[] = [];

/** A seeder in a process of its own, on a copy of the seeded data dir (its own identity). */
async function seeder(name: string): Promise<ServerProcess> {
  const dir = path.join(root, name);
  await cp(path.join(root, 'seed'), dir, { recursive: true });
  const s = await startServer(dir);
  started.push(s);
  return s;
}

/** A client node connected to `servers`; resolves to it and their peer ids in that order. */
async function client(name: string, servers: readonly { readonly address: string }[]): Promise<{ node: CastorNode; peers: PeerId[] }> {
  const node = await CastorNode.start(await dataDir(root, name), { listen: [] });
  const peers: PeerId[] = [];
  for (const s of servers) {
    const id = await node.connect(s.address);
    peers.push(node.host.getPeers().find((p) => p.toString() === id)!);
  }
  return { node, peers };
}

before(async () => {
  root = await tempDir('swarm-seeders');
  bytes = randomBytes(SIZE);
  const seed = await dataDir(root, 'seed');
  digest = await putBlob(seed, bytes);
});

after(async () => {
  for (const s of started) await s.stop();
  await removeDir(root);
});

test('four seeders, one fetcher: every seeder serves part of the blob', async () => {
  const seeders = await Promise.all(['s1', 's2', 's3', 's4'].map((n) => seeder(n)));
  const { node, peers } = await client('fetch-all', seeders);
  try {
    const r = await fetchBlob({ host: node.host, data: node.data }, digest, peers);
    assert.equal(r.size, SIZE);
    assert.equal(r.fetchedBytes, SIZE);
    for (const s of seeders) {
      assert.ok((r.fromPeers?.[s.peerId] ?? 0) > 0, `${s.peerId} delivered: ${JSON.stringify(r.fromPeers)}`);
      const served = await s.served();
      assert.ok(served.served.total > 0, `${s.peerId} served ${served.served.total}`);
    }
    assert.ok(Buffer.from(await readBlob(node.data, digest)).equals(bytes));
  } finally {
    await node.stop();
    for (const s of seeders) await s.stop();
  }
});

test('a seeder killed mid-fetch: the others finish the blob', async () => {
  const seeders = await Promise.all(['k1', 'k2', 'k3', 'k4'].map((n) => seeder(n)));
  const { node, peers } = await client('fetch-kill', seeders);
  const victim = seeders[0]!;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => victim.child.once('exit', (_code, signal) => resolve(signal)));
  let got = 0;
  let killedAt: number | undefined;
  try {
    const r = await fetchBlob({ host: node.host, data: node.data }, digest, peers, {
      onBytes: (n) => {
        got += n;
        if (killedAt === undefined && got >= SIZE / 4) {
          killedAt = got;
          victim.child.kill('SIGKILL');
        }
      },
    });
    assert.equal(await exited, 'SIGKILL');
    assert.ok(killedAt !== undefined && killedAt < SIZE, 'killed before the end');
    assert.equal(r.size, SIZE);
    assert.ok(Buffer.from(await readBlob(node.data, digest)).equals(bytes));
    assert.deepEqual(await PartialBlob.list(node.data), []);
  } finally {
    await node.stop();
    for (const s of seeders.slice(1)) await s.stop();
  }
});

test('a seeder that stops answering (SIGSTOP) mid-fetch: its units go to the other after stallMs', async () => {
  const seeders = await Promise.all(['p1', 'p2'].map((n) => seeder(n)));
  const { node, peers } = await client('fetch-stall', seeders);
  const sleeper = seeders[0]!;
  let got = 0;
  let stopped = false;
  try {
    const r = await fetchBlob({ host: node.host, data: node.data }, digest, peers, {
      stallMs: 1000,
      onBytes: (n) => {
        got += n;
        if (!stopped && got >= SIZE / 4) {
          stopped = true;
          sleeper.child.kill('SIGSTOP');
        }
      },
    });
    assert.ok(stopped, 'stopped before the end');
    assert.equal(r.size, SIZE);
    assert.ok(Buffer.from(await readBlob(node.data, digest)).equals(bytes));
  } finally {
    if (stopped) sleeper.child.kill('SIGCONT');
    await node.stop();
    for (const s of seeders) await s.stop();
  }
});

test('a seeder that flips a byte is dropped and named; the others finish with the right bytes', async () => {
  const honest = await Promise.all(['h1', 'h2', 'h3'].map((n) => seeder(n)));
  const hostile = await startHostile(path.join(root, 'seed'), ['flip']);
  const liar = hostile.node('flip');
  const { node, peers } = await client('fetch-liar', [liar, ...honest]);
  const dropped: PeerDroppedEvent[] = [];
  try {
    const r = await fetchBlob({ host: node.host, data: node.data }, digest, peers, { onPeerDropped: (e) => dropped.push(e) });
    assert.equal(r.size, SIZE);
    assert.equal(dropped.length, 1, JSON.stringify(dropped.map((d) => d.reason)));
    assert.equal(dropped[0]!.peer, liar.peerId);
    assert.equal(formatDigest(dropped[0]!.digest), formatDigest(digest));
    assert.match(dropped[0]!.reason, /failed verification|HASH_MISMATCH|does not verify|hash/i);
    assert.equal(dropped[0]!.error.code, 'PEER_MISBEHAVED');
    assert.ok(Buffer.from(await readBlob(node.data, digest)).equals(bytes), 'the store holds only the right bytes');
  } finally {
    await node.stop();
    await hostile.stop();
    for (const s of honest) await s.stop();
  }
});
