// One bad Directory answer must not fail the fetch of a plain blob (issue 20, defect 2):
// a peer that answers the directory protocol with garbage, or stays silent, is one
// failure among the answers; the honest peer holding the blob is still asked and the
// fetch succeeds.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Stream } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { DIRECTORY_PROTOCOL } from '../../src/node/protocols/ids.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { garbage, silent, startLiar, type LiarHost } from './liar-host.js';

let root: string;
let honest: ServerProcess;
const blobs: { bytes: Uint8Array; digest: Digest }[] = [];
let garbler: LiarHost;
let mute: LiarHost;
const held: Stream[] = [];

before(async () => {
  root = await tempDir('dir-probe');
  const served = await dataDir(root, 'honest');
  // One fetched in one go, one through a partial.
  for (const size of [200_000, 2 * (1 << 20) + 77]) {
    const bytes = randomBytes(size);
    blobs.push({ bytes, digest: await putBlob(served, bytes) });
  }
  honest = await startServer(path.join(root, 'honest'));
  garbler = await startLiar({ [DIRECTORY_PROTOCOL]: garbage });
  mute = await startLiar({ [DIRECTORY_PROTOCOL]: silent(held) });
});

after(async () => {
  await honest?.stop();
  for (const s of held) s.abort(new Error('test over'));
  await garbler?.stop();
  await mute?.stop();
  await removeDir(root);
});

describe('a bad Directory answer beside an honest blob holder', () => {
  for (const [name, liar] of [['garbage', () => garbler], ['silence', () => mute]] as const) {
    it(`${name} on the directory protocol, asked first: each blob is still fetched from the honest peer`, async () => {
      const node = await CastorNode.start(await dataDir(root, `fetch-${name}`), { listen: [], dht: false });
      try {
        for (const b of blobs) {
          const r = await node.fetch(b.digest, { peers: [liar().address, honest.address] });
          assert.equal(r.type, 'blob');
          assert.deepEqual(await readBlob(node.data, b.digest), b.bytes);
        }
      } finally {
        await node.stop();
      }
    });
  }
});
