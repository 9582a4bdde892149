// A size lie (issue 20, defect 1): a peer whose stat keeps the tree's shape but claims a
// size a little smaller or larger. Its outboard verifies for that size too; only the
// final group can tell. The claim must stay a claim: no partial begins on it, an
// honest peer is not blamed for contradicting it, and a partial whose size was never
// proved is corrected by the proof instead of poisoning every later fetch.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { BLOB_PROTOCOL, DIRECTORY_PROTOCOL, STAT_PROTOCOL } from '../../src/node/protocols/ids.js';
import type { PeerDroppedEvent } from '../../src/node/fetch/index.js';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';
import type { DataDir } from '../../src/store/disk/data-dir.js';
import type { Digest } from '../../src/store/digest.js';
import { encodeLength } from '../../src/verify/index.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { noDirectory, sizeLie, startLiar, type LiarHost } from './liar-host.js';

let root: string;
let bytes: Uint8Array;
let outboard: Uint8Array;
let digest: Digest;
let honest: ServerProcess;
const liars = new Map<number, LiarHost>();

before(async () => {
  root = await tempDir('size-proof');
  // The final group holds 5000 bytes: 100 more or fewer keep the tree's shape.
  bytes = randomBytes(3 * (1 << 20) + 5000);
  const served = await dataDir(root, 'honest');
  digest = await putBlob(served, bytes);
  outboard = (await served.blobs.stat(digest))!.outboard;
  honest = await startServer(path.join(root, 'honest'));
  for (const delta of [-100, 100]) {
    const lie = sizeLie(bytes, outboard, delta);
    liars.set(delta, await startLiar({ [STAT_PROTOCOL]: lie.stat, [BLOB_PROTOCOL]: lie.blob, [DIRECTORY_PROTOCOL]: noDirectory }));
  }
});

after(async () => {
  await honest?.stop();
  for (const l of liars.values()) await l.stop();
  await removeDir(root);
});

async function partialSize(data: DataDir): Promise<number | undefined> {
  const p = await PartialBlob.peek(data, digest);
  if (p === undefined) return undefined;
  try {
    return p.size;
  } finally {
    await p.close();
  }
}

async function withNode<T>(name: string, fn: (node: CastorNode) => Promise<T>): Promise<T> {
  const node = await CastorNode.start(await dataDir(root, name), { listen: [], dht: false });
  try {
    return await fn(node);
  } finally {
    await node.stop();
  }
}

describe('a size claimed a little off, keeping the tree shape', () => {
  for (const delta of [-100, 100]) {
    it(`(${delta > 0 ? '+' : ''}${delta} bytes) alone: the liar is named, no partial keeps its size, and an honest peer afterwards completes the fetch`, async () => {
      const liar = liars.get(delta)!;
      await withNode(`alone${delta}`, async (node) => {
        await assert.rejects(node.fetch(digest, { peers: [liar.address] }), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'PEER_MISBEHAVED', err.message);
          assert.ok(err.message.includes(liar.peerId), err.message);
          return true;
        });
        const kept = await partialSize(node.data);
        assert.ok(kept === undefined || kept === bytes.length, `a partial of the lied size ${kept} was kept`);
        const r = await node.fetch(digest, { peers: [honest.address] });
        assert.equal(r.bytes, bytes.length);
        assert.deepEqual(await readBlob(node.data, digest), bytes);
        assert.equal(await partialSize(node.data), undefined, 'the partial is gone once the blob is stored');
      });
    });
  }

  it('beside an honest peer: the fetch succeeds, only the liar is dropped', async () => {
    for (const delta of [-100, 100]) {
      const liar = liars.get(delta)!;
      await withNode(`both${delta}`, async (node) => {
        const dropped: PeerDroppedEvent[] = [];
        const r = await node.fetch(digest, { peers: [liar.address, honest.address], onPeerDropped: (e) => dropped.push(e) });
        assert.equal(r.bytes, bytes.length);
        assert.deepEqual(await readBlob(node.data, digest), bytes);
        assert.ok(!dropped.some((e) => e.peer === honest.peerId), `the honest peer was dropped: ${dropped.map((e) => e.reason).join('; ')}`);
      });
    }
  });

  it('a partial left with a size never proved (as before the fix) is corrected by the honest proof, not kept', async () => {
    await withNode('legacy', async (node) => {
      const lying = outboard.slice();
      lying.set(encodeLength(bytes.length - 100), 0);
      // begin verifies the outboard's parents, which the false size passes: the defect.
      const p = await PartialBlob.begin(node.data, digest, bytes.length - 100, lying, { durable: false });
      await p.writeGroup(0, bytes.subarray(0, 16384));
      await p.close();
      const dropped: PeerDroppedEvent[] = [];
      const r = await node.fetch(digest, { peers: [honest.address], onPeerDropped: (e) => dropped.push(e) });
      assert.equal(r.bytes, bytes.length);
      assert.deepEqual(await readBlob(node.data, digest), bytes);
      assert.deepEqual(dropped, [], 'the honest peer is not blamed');
      assert.equal(await partialSize(node.data), undefined);
    });
  });
});
