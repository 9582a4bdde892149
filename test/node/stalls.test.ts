// Stalls are bounded (issue 20, defect 3): a peer that sends its stat header and then
// nothing, or drips its answer a byte at a time, neither holds a fetch an honest peer
// can complete, nor holds a fetch from it alone for ever (the progress rule of
// stream-io.ts: IDLE_TIMEOUT of silence, MIN_PEER_RATE). The timeouts below only turn a
// hang into a failure; a passing run takes a fraction of them.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Stream } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { IDLE_TIMEOUT } from '../../src/node/limits.js';
import { DIRECTORY_PROTOCOL, STAT_PROTOCOL } from '../../src/node/protocols/ids.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { noDirectory, startLiar, statDrip, statThenSilence, type LiarHost } from './liar-host.js';

let root: string;
let bytes: Uint8Array;
let digest: Digest;
let honest: ServerProcess;
let mute: LiarHost;
let drip: LiarHost;
const held: Stream[] = [];
const HANG = 4 * IDLE_TIMEOUT;

before(async () => {
  root = await tempDir('stalls');
  bytes = randomBytes(3 * (1 << 20) + 5000);
  const served = await dataDir(root, 'honest');
  digest = await putBlob(served, bytes);
  const outboard = (await served.blobs.stat(digest))!.outboard;
  honest = await startServer(path.join(root, 'honest'));
  mute = await startLiar({ [STAT_PROTOCOL]: statThenSilence(bytes, outboard, held), [DIRECTORY_PROTOCOL]: noDirectory });
  drip = await startLiar({ [STAT_PROTOCOL]: statDrip(bytes, outboard, 100), [DIRECTORY_PROTOCOL]: noDirectory });
});

after(async () => {
  await honest?.stop();
  for (const s of held) s.abort(new Error('test over'));
  await mute?.stop();
  await drip?.stop();
  await removeDir(root);
});

async function withNode<T>(name: string, fn: (node: CastorNode) => Promise<T>): Promise<T> {
  const node = await CastorNode.start(await dataDir(root, name), { listen: [], dht: false });
  try {
    return await fn(node);
  } finally {
    await node.stop();
  }
}

describe('a peer that stalls', () => {
  for (const [name, liar] of [['stat header then silence', () => mute], ['stat one byte per 100 ms', () => drip]] as const) {
    it(`${name}, beside an honest peer: the fetch completes without waiting for it`, { timeout: HANG }, async () => {
      await withNode(`both-${liar().peerId.slice(-6)}`, async (node) => {
        const r = await node.fetch(digest, { peers: [liar().address, honest.address] });
        if (liar() === mute) {
          // Its stat asked before the swarm began is still waiting (the progress rule ends it
          // later): the fetch ended when the blob was whole, not when that wait ended.
          assert.ok(held.some((s) => s.status === 'open'), 'the fetch waited for the stalled stat to end');
        }
        assert.equal(r.bytes, bytes.length);
        assert.deepEqual(await readBlob(node.data, digest), bytes);
      });
    });
  }

  it('stat header then silence, alone: the fetch fails naming the peer as too slow instead of waiting for ever', { timeout: HANG }, async () => {
    await withNode('alone', async (node) => {
      await assert.rejects(node.fetch(digest, { peers: [mute.address] }), (err: Error & { failures?: Error[] }) => {
        const all = [err, ...(err.failures ?? [])].map((e) => e.message).join('\n');
        assert.ok(all.includes(mute.peerId), all);
        assert.match(all, /sent 0 bytes|PEER_TOO_SLOW|below \d+ bytes\/s/, all);
        return true;
      });
    });
  });
});
