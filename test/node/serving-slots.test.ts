// One peer cannot take every serving slot (issue 20, defect 4): a client that opens 30
// blob requests and never reads the answers holds at most MAX_BLOB_SERVES_PER_PEER of
// the server's MAX_CONCURRENT_BLOB_SERVES slots, so another peer is still served, and
// each of its stuck streams is reset once it has not drained within IDLE_TIMEOUT.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { PeerId, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { CastorNode } from '../../src/node/castor-node.js';
import { IDLE_TIMEOUT, MAX_BLOB_SERVES_PER_PEER, MAX_CONCURRENT_BLOB_SERVES } from '../../src/node/limits.js';
import { decodeAnswer, requestBlob } from '../../src/node/protocols/blob-request.js';
import { BlobRequest } from '../../src/node/protocols/exchange-pb.js';
import { BLOB_PROTOCOL } from '../../src/node/protocols/ids.js';
import { framed } from '../../src/node/stream-io.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

let root: string;
let server: ServerProcess;
let bytes: Uint8Array;
let digest: Digest;
const STUCK = 30;

before(async () => {
  root = await tempDir('slots');
  // Far more than a stream window, so a reader that never reads leaves the server waiting to send.
  bytes = randomBytes(8 << 20);
  digest = await putBlob(await dataDir(root, 'server'), bytes);
  server = await startServer(path.join(root, 'server'));
});

after(async () => {
  await server?.stop();
  await removeDir(root);
});

async function node(name: string): Promise<{ node: CastorNode; peer: PeerId }> {
  const n = await CastorNode.start(await dataDir(root, name), { listen: [], dht: false });
  return { node: n, peer: (await n.host.dial(multiaddr(server.address))).remotePeer };
}

describe('a peer that never reads its answers', () => {
  it('holds only its share of the blob slots; another peer is served meanwhile, and its stuck streams are reset', { timeout: 4 * IDLE_TIMEOUT }, async () => {
    assert.ok(MAX_BLOB_SERVES_PER_PEER < MAX_CONCURRENT_BLOB_SERVES);
    const hog = await node('hog');
    const other = await node('other');
    const stuck: Stream[] = [];
    try {
      for (let i = 0; i < STUCK; i++) {
        const s = await hog.node.host.dialProtocol(hog.peer, BLOB_PROTOCOL);
        // Never read: yamux grants no more window, the server's sends wait for a drain.
        s.pause();
        s.send(framed(BlobRequest.encode({ digest: new Uint8Array(digest), ranges: [], groupLog: 4 })));
        stuck.push(s);
      }
      // Let the server take all of them in (ordering only; the assertions do not depend on speed).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const answer = await requestBlob(other.node.host, other.peer, digest, [{ start: 0, end: 1 << 20 }]);
      assert.ok(answer !== undefined, 'the other peer is answered, not refused');
      let got = 0;
      for await (const piece of decodeAnswer(answer)) got += piece.length;
      assert.equal(got, 1 << 20);
      // The hog's own slots come free once its stuck streams are reset for not draining:
      // until then it is refused (BUSY), after that it is answered.
      for (;;) {
        try {
          const again = await requestBlob(hog.node.host, hog.peer, digest, [{ start: 0, end: 1024 }]);
          assert.ok(again !== undefined);
          for await (const piece of decodeAnswer(again)) void piece;
          break;
        } catch (err: unknown) {
          assert.equal((err as { remoteCode?: string }).remoteCode, 'BUSY', String(err));
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    } finally {
      for (const s of stuck) s.abort(new Error('test over'));
      await hog.node.stop();
      await other.node.stop();
    }
  });
});
