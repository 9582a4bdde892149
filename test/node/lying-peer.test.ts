// Peers that lie on purpose (test/support/hostile-peer.ts, in a process of their own):
// a flipped byte, a truncated answer, a false size, a bad outboard, garbage. The client stops at the bad group, names the peer and the digest,
// keeps no unverified byte (the store lacks the blob; every group a partial holds
// verifies), and an honest peer afterwards completes the fetch from what was kept.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import type { DataDir } from '../../src/store/disk/data-dir.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { startHostile, type HostileNode, type HostileProcess } from '../support/hostile-process.js';

const GROUP = 16384;
let root: string;
let honest: ServerProcess;
let bigBytes: Uint8Array;
let big: Digest;
let smallBytes: Uint8Array;
let small: Digest;
let tree: Digest;
let liars: HostileProcess;

/** A data dir holding the test content; each server needs its own (its own identity, so its own peer id). */
async function servedDir(name: string): Promise<string> {
  const served = await dataDir(root, name);
  big = await putBlob(served, bigBytes);
  small = await putBlob(served, smallBytes);
  tree = (await ingestPath(path.join(root, 'tree'), served)).digest;
  return path.join(root, name);
}

before(async () => {
  root = await tempDir('node-lying');
  bigBytes = randomBytes(3 * (1 << 20) + 5000);
  smallBytes = randomBytes(200_000);
  const src = path.join(root, 'tree');
  await mkdir(path.join(src, 'd'), { recursive: true });
  await writeFile(path.join(src, 'd', 'a'), randomBytes(50_000));
  honest = await startServer(await servedDir('honest'));
  liars = await startHostile(await servedDir('liars'), ['flip', 'truncate', 'size', 'outboard', 'garbage']);
});

after(async () => {
  await honest?.stop();
  await liars?.stop();
  await removeDir(root);
});

/** Every group the partial of `digest` holds verifies (its read hashes each one); resolves to their indices. */
async function heldGroups(data: DataDir, digest: Digest): Promise<number[]> {
  const partial = await PartialBlob.peek(data, digest);
  if (partial === undefined) return [];
  try {
    const held: number[] = [];
    for (let g = 0; g < partial.groupCount; g++) {
      if (!partial.has(g)) continue;
      for await (const piece of partial.read({ start: g * GROUP, end: (g + 1) * GROUP })) void piece;
      held.push(g);
    }
    return held;
  } finally {
    await partial.close();
  }
}

async function expectLie(node: CastorNode, digest: Digest, liar: HostileNode, detail: RegExp): Promise<void> {
  await assert.rejects(node.fetch(digest, { peers: [liar.address] }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PEER_MISBEHAVED', err.message);
    assert.ok(err.message.includes(liar.peerId), `names the peer: ${err.message}`);
    assert.match(err.message, detail);
    return true;
  });
}

for (const [mode, detail] of [
  ['flip', /failed verification/],
  ['truncate', /ended early/],
  ['size', /bytes/],
] as const) {
  test(`${mode}: a large blob stops at the bad group, keeps only verified groups, and an honest peer completes it`, async () => {
    const data = await dataDir(root, `client-${mode}`);
    const node = await CastorNode.start(data, { listen: [] });
    try {
      await expectLie(node, big, liars.node(mode), new RegExp(`${detail.source}|${formatDigest(big)}`));
      assert.equal(await data.blobs.has(big), false);
      const held = await heldGroups(data, big);
      if (mode === 'flip') assert.ok(!held.includes(Math.floor(bigBytes.length / 2 / GROUP)), 'the flipped group is not kept');
      if (mode === 'size') assert.equal(held.length, 0);
      const r = await node.fetch(big, { peers: [honest.address] });
      assert.equal(r.fetchedBytes, bigBytes.length - held.reduce((n, g) => n + Math.min(GROUP, bigBytes.length - g * GROUP), 0));
      assert.ok(Buffer.from(await readBlob(data, big)).equals(bigBytes));
    } finally {
      await node.stop();
    }
  });

  test(`${mode}: a small blob (one streamed write) is refused whole`, async () => {
    const data = await dataDir(root, `client-small-${mode}`);
    const node = await CastorNode.start(data, { listen: [] });
    try {
      await expectLie(node, small, liars.node(mode), /./);
      assert.equal(await data.blobs.has(small), false);
      assert.deepEqual(await PartialBlob.list(data), []);
    } finally {
      await node.stop();
    }
  });
}

test('outboard: a stat whose outboard does not verify is refused before anything is stored', async () => {
  const data = await dataDir(root, 'client-outboard');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    await expectLie(node, big, liars.node('outboard'), /outboard does not verify/);
    assert.deepEqual(await PartialBlob.list(data), []);
    assert.equal(await data.blobs.has(big), false);
  } finally {
    await node.stop();
  }
});

test('garbage: random bytes instead of an answer are reported for blobs and trees', async () => {
  const data = await dataDir(root, 'client-garbage');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    await expectLie(node, small, liars.node('garbage'), /./);
    await expectLie(node, tree, liars.node('garbage'), /./);
    assert.equal(await data.directories.get(tree), undefined);
    // The honest peer is still there for the same client.
    assert.equal((await node.fetch(tree, { peers: [honest.address] })).files, 1);
  } finally {
    await node.stop();
  }
});

test('a lying peer listed first does not stop an honest one listed after it', async () => {
  const data = await dataDir(root, 'client-two');
  const node = await CastorNode.start(data, { listen: [] });
  try {
    const r = await node.fetch(big, { peers: [liars.node('flip').address, honest.address] });
    assert.equal(r.bytes, bigBytes.length);
    assert.ok(Buffer.from(await readBlob(data, big)).equals(bigBytes));
  } finally {
    await node.stop();
  }
});
