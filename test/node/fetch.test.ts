// Two processes on loopback: a serving node in a child process, a fetching node here.
// A 64 MiB blob and a tree of a couple of thousand files fetched and compared, a range
// from the middle of a blob, and the p2p remote tier under a LayeredBlobService.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { decodeAnswer, requestBlob } from '../../src/node/protocols/blob-request.js';
import { openStores } from '../../src/store/compose/store-spec.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { exportNode } from '../../src/store/ingest/export.js';
import { findDigest } from '../../src/store/ingest/lookup.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { assertSameTree } from '../store/tree-fixture.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

const MiB = 1 << 20;
let root: string;
let server: ServerProcess;
let big: Uint8Array;
let bigDigest: Digest;
let treeSource: string;
let treeDigest: Digest;
const TREE_FILES = 2000;

before(async () => {
  root = await tempDir('node-fetch');
  const served = await dataDir(root, 'server');
  big = randomBytes(64 * MiB);
  bigDigest = await putBlob(served, big);
  treeSource = path.join(root, 'tree');
  for (let d = 0; d < 20; d++) {
    const dir = path.join(treeSource, `dir-${d}`, 'sub');
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < TREE_FILES / 20; f++) await writeFile(path.join(dir, `file-${f}`), randomBytes((d * 131 + f * 17) % 3000));
  }
  treeDigest = (await ingestPath(treeSource, served)).digest;
  server = await startServer(path.join(root, 'server'));
});

after(async () => {
  await server?.stop();
  await removeDir(root);
});

test('a 64 MiB blob is fetched from another process, verified, stored, and reads back the same', async () => {
  const data = await dataDir(root, 'blob-client');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    const seen: number[] = [];
    const r = await node.fetch(bigDigest, { peers: [server.address], onProgress: (p) => seen.push(p.bytes) });
    assert.equal(r.type, 'blob');
    assert.equal(r.bytes, big.length);
    assert.equal(r.fetchedBytes, big.length);
    assert.ok(seen.length > 1 && seen[seen.length - 1] === big.length, 'progress reaches the size');
    assert.ok(Buffer.from(await readBlob(data, bigDigest)).equals(big));
    // Local now: a second fetch moves nothing.
    assert.equal((await node.fetch(bigDigest, { peers: [server.address] })).fetchedBytes, 0);
    assert.deepEqual(node.peers().map((p) => p.peerId), [server.peerId]);
  } finally {
    await node.stop();
  }
});

test(`a tree of ${TREE_FILES} files is fetched (Directories, then blobs in parallel) and exports identical`, async () => {
  const data = await dataDir(root, 'tree-client');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    const r = await node.fetch(treeDigest, { peers: [server.address] });
    assert.equal(r.type, 'directory');
    assert.equal(r.files, TREE_FILES);
    const found = await findDigest(data, treeDigest);
    assert.equal(found?.type, 'directory');
    const out = path.join(root, 'tree-out');
    await exportNode(found!.node, out, data);
    await assertSameTree(out, treeSource);
  } finally {
    await node.stop();
  }
});

test('a range from the middle of a blob: only its groups travel, verified against the digest', async () => {
  const data = await dataDir(root, 'range-client');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    const peer = (await node.host.dial((await import('@multiformats/multiaddr')).multiaddr(server.address))).remotePeer;
    const start = 32 * MiB + 12345;
    const answer = await requestBlob(node.host, peer, bigDigest, [{ start, end: start + MiB }]);
    assert.ok(answer !== undefined);
    const parts: Uint8Array[] = [];
    for await (const p of decodeAnswer(answer)) parts.push(p.slice());
    assert.ok(Buffer.concat(parts).equals(big.subarray(start, start + MiB)));
    // About 1 MiB plus a group at each end and the parents on the way: far from 64 MiB.
    assert.ok(answer.exchange.bytes.input.received < MiB + 3 * 16384 + 64 * 64, `received ${answer.exchange.bytes.input.received}`);
    // Several ranges in one request.
    const many = await requestBlob(node.host, peer, bigDigest, [{ start: 0, end: 10 }, { start: 40 * MiB, end: 40 * MiB + 5 }, { start: big.length - 3, end: big.length + 100 }]);
    const got: Uint8Array[] = [];
    for await (const p of decodeAnswer(many!)) got.push(p.slice());
    assert.ok(Buffer.concat(got).equals(Buffer.concat([big.subarray(0, 10), big.subarray(40 * MiB, 40 * MiB + 5), big.subarray(big.length - 3)])));
  } finally {
    await node.stop();
  }
});

test('p2p:// as a lower tier: a layered store reads through to the peer, verified, and writes through', async () => {
  const local = path.join(root, 'layered-local');
  const stores = await openStores([`fs://${local}`, `p2p://${server.address}`], { create: true, durable: false });
  try {
    const st = await stores.blobs.stat(bigDigest);
    assert.equal(st?.size, big.length);
    const start = 10 * MiB;
    const range = await stores.blobs.read(bigDigest, { start, end: start + 100_000 });
    const parts: Uint8Array[] = [];
    for await (const p of range!) parts.push(p.slice());
    assert.ok(Buffer.concat(parts).equals(big.subarray(start, start + 100_000)));
    // A tree through the layered DirectoryService, then written through to the local tier.
    let count = 0;
    for await (const dir of stores.directories.getRecursive(treeDigest)) count += dir.files.length;
    assert.equal(count, TREE_FILES);
    assert.ok((await stores.tiers[0]!.directories.get(treeDigest)) !== undefined);
    assert.equal(await stores.blobs.has(new Uint8Array(32) as Digest), false);
  } finally {
    await stores.close();
  }
});

test('p2p:// refuses to be the local tier, and p2p:// with no node running names the fix', async () => {
  await assert.rejects(openStores([`p2p://${server.address}`]), /lower tier/);
  await assert.rejects(openStores([`memory://`, 'p2p://']), /none runs/);
  void formatDigest;
});
