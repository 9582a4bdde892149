// Discovery through the DHT alone: ten nodes on loopback, each bootstrapped to one other
// (a tree, not all-to-all), mDNS off. A node finds and fetches content and a publisher's
// signed root that another node announced, never having been given that node's address.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { contentKey, rootKey } from '../../src/node/discovery/dht-key.js';
import { dhtProviders } from '../../src/node/discovery/find-providers.js';
import { addPin } from '../../src/store/maintenance/pins.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { asDigest, digestEquals, formatDigest } from '../../src/store/digest.js';
import { TrustStore } from '../../src/store/trust/index.js';
import { formatPublicKey, generateKeyPair } from '../../src/verify/keys.js';
import { assertSameTree } from '../store/tree-fixture.js';
import { exportNode } from '../../src/store/ingest/export.js';
import { findDigest } from '../../src/store/ingest/lookup.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, tempDir } from './node-fixture.js';

const COUNT = 10;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = generateKeyPair('swarm.test-1');
let root: string;
let treeSource: string;
let treeDigest: Uint8Array;
const nodes: CastorNode[] = [];

/** Node i's bootstrap peer: its parent in a binary tree rooted at node 0. */
const parentOf = (i: number): number => Math.floor((i - 1) / 2);

before(async () => {
  root = await tempDir('discovery-dht');
  // Node 3 holds a pinned tree before it starts: announced at start, in the background.
  treeSource = path.join(root, 'tree');
  await mkdir(path.join(treeSource, 'sub'), { recursive: true });
  await writeFile(path.join(treeSource, 'a.bin'), randomBytes(300_000));
  await writeFile(path.join(treeSource, 'sub', 'b.txt'), 'hello swarm\n');
  for (let i = 0; i < COUNT; i++) {
    const data = await dataDir(root, `n${i}`);
    await writeFile(data.layout.config, JSON.stringify({ trustedKeys: [formatPublicKey(key.public)] }));
    if (i === 3) {
      treeDigest = (await ingestPath(treeSource, data)).digest;
      await addPin(data.layout, { digest: asDigest(treeDigest), type: 'directory', label: 'tree' }, false);
    }
    const bootstrap = i === 0 ? [] : [nodes[parentOf(i)]!.addresses()[0]!];
    nodes.push(await CastorNode.start(data, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap }));
  }
  // Every routing table has a peer before anything is looked up.
  const deadline = Date.now() + 10_000;
  while (nodes.some((n) => (n.host.services.dht?.routingTable.size ?? 0) === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await removeDir(root);
});

test('DHT keys are sha2-256 CIDs (v1, raw) of namespaced preimages, different for content and roots', () => {
  const d = new Uint8Array(32).fill(7);
  const c = contentKey(d);
  assert.equal(c.version, 1);
  assert.equal(c.code, 0x55);
  assert.equal(c.multihash.code, 0x12);
  assert.equal(c.multihash.digest.length, 32);
  assert.notEqual(c.toString(), rootKey(d).toString());
  assert.equal(c.toString(), contentKey(new Uint8Array(32).fill(7)).toString());
  assert.throws(() => contentKey(new Uint8Array(31)), { code: 'INVALID_INPUT' });
});

test('a blob added on one node is fetched by digest on a node never given its address', async () => {
  const bytes = randomBytes(2_500_000);
  const adder = nodes[5]!;
  const fetcher = nodes[9]!;
  const digest = await putBlob(adder.data, bytes);
  await adder.announce(digest);
  const providers: string[] = [];
  for await (const p of dhtProviders(fetcher.host, contentKey(digest))) providers.push(p.id.toString());
  assert.ok(providers.includes(adder.peerId), `the DHT names the adder (got ${providers.join(', ')})`);
  const found = await fetcher.findProviders(digest);
  assert.ok(found.some((p) => p.toString() === adder.peerId));
  const r = await fetcher.fetch(digest);
  assert.equal(r.type, 'blob');
  assert.equal(r.bytes, bytes.length);
  assert.deepEqual(await readBlob(fetcher.data, digest), bytes);
});

test('a tree pinned before start is announced at start and fetched whole', async () => {
  const fetcher = nodes[8]!;
  const holder = nodes[3]!;
  // The start announcement runs in the background: wait for the record to be there.
  const deadline = Date.now() + 15_000;
  let named = false;
  while (!named && Date.now() < deadline) {
    for await (const p of dhtProviders(fetcher.host, contentKey(treeDigest))) if (p.id.toString() === holder.peerId) named = true;
    if (!named) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(named, 'the holder is a provider of the tree');
  const r = await fetcher.fetch(asDigest(treeDigest));
  assert.equal(r.type, 'directory');
  assert.equal(r.files, 2);
  const out = path.join(root, 'out-tree');
  const found = await findDigest(fetcher.data, asDigest(treeDigest));
  assert.ok(found !== undefined);
  await exportNode(found.node, out, fetcher.data);
  await assertSameTree(treeSource, out);
});

test('fetchRoot through the DHT: a root published on a far node is found, accepted and its name fetched', async () => {
  const publisher = nodes[6]!;
  const fetcher = nodes[7]!;
  const bytes = randomBytes(40_000);
  const digest = await putBlob(publisher.data, bytes);
  await new TrustStore(publisher.data).publish(key.secret, { set: [{ name: enc('hello'), digest }] });
  await publisher.announceRoot(key.public.publicKey);
  const accepted = await fetcher.fetchRoot(key.public.publicKey);
  assert.equal(accepted.root.sequence, 1n);
  const { entry } = await fetcher.trust.resolve(formatPublicKey(key.public), enc('hello'));
  assert.ok(entry?.node !== undefined && 'file' in entry.node);
  const named = asDigest(entry.node.file.digest);
  assert.ok(digestEquals(named, digest));
  // The publisher has not announced the blob itself: connected peers are asked first, and
  // the fetcher is connected to the publisher now.
  await publisher.announce(named);
  await fetcher.fetch(named);
  assert.deepEqual(await readBlob(fetcher.data, named), bytes);
});

test('nothing anywhere: NOT_FOUND saying the connected peers and the DHT were asked', async () => {
  const missing = asDigest(new Uint8Array(32).fill(0xab));
  await assert.rejects(nodes[4]!.fetch(missing), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NOT_FOUND');
    assert.match(err.message, new RegExp(`^no peer provides ${formatDigest(missing)}: asked \\d+ connected peers? and the DHT`));
    return true;
  });
});

test('re-announcing on a schedule: a node that joins later gets the record without a new add', async () => {
  const small: CastorNode[] = [];
  try {
    const open = (name: string): ReturnType<typeof dataDir> => dataDir(root, name);
    const hub = await CastorNode.start(await open('r-hub'), { listen: ['/ip4/127.0.0.1/tcp/0'] });
    small.push(hub);
    const holder = await CastorNode.start(await open('r-holder'), { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [hub.addresses()[0]!], reannounceInterval: 1000 });
    small.push(holder);
    const digest = await putBlob(holder.data, randomBytes(10_000));
    await holder.announce(digest);
    // Joins after the announcement: its own record store starts empty.
    const late = await CastorNode.start(await open('r-late'), { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [hub.addresses()[0]!] });
    small.push(late);
    const dht = late.host.services.dht!;
    const deadline = Date.now() + 10_000;
    let own = false;
    while (!own && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      // A PROVIDER event from the node itself means the record is in its own store.
      for await (const e of dht.findProviders(contentKey(digest), { signal: AbortSignal.timeout(2000) })) {
        if (e.name === 'PROVIDER' && e.from.equals(late.host.peerId) && e.providers.some((p) => p.id.equals(holder.host.peerId))) own = true;
        if (e.name === 'PROVIDER') break;
      }
    }
    assert.ok(own, 'the late node holds the holder\'s record after a re-announce round');
  } finally {
    await Promise.all(small.map((n) => n.stop()));
  }
});

test('findProviders orders connected peers with the preferred (mDNS) ones first, then DHT providers, never itself', async () => {
  const { findProviders } = await import('../../src/node/discovery/find-providers.js');
  const asker = nodes[0]!;
  const connected = asker.host.getPeers().map(String);
  assert.ok(connected.length >= 2, 'node 0 has several connections');
  const last = connected[connected.length - 1]!;
  const found = await findProviders(asker.host, undefined, { preferred: new Set([last]) });
  assert.equal(found.peers[0]!.toString(), last);
  assert.equal(found.dht, false);
  assert.deepEqual(new Set(found.peers.map(String)), new Set(connected));
  assert.ok(!found.peers.some((p) => p.equals(asker.host.peerId)));
});
