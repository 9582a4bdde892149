// The blob server on a damaged store: a chunk whose bytes changed on disk (in the pack it
// was appended to) is caught by the server's own verification. Ranges away from it are served whole; a slice that
// reaches it stops before the damaged group, so not one of its bytes leaves the server,
// and the server reports the mismatch.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { multiaddr } from '@multiformats/multiaddr';
import type { PeerId } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { decodeAnswer, requestBlob } from '../../src/node/protocols/blob-request.js';
import { sliceLength } from '../../src/node/protocols/blob-serve.js';
import { openStoredBlob } from '../../src/node/protocols/stored-blob.js';
import type { Digest } from '../../src/store/digest.js';
import { chunkAt, flipByte } from '../store/store-fixture.js';
import { dataDir, putBlob, randomBytes, removeDir, tempDir } from './node-fixture.js';

const MiB = 1 << 20;
const GROUP = 16384;
let root: string;
let server: CastorNode;
let client: CastorNode;
let peer: PeerId;
let bytes: Uint8Array;
let digest: Digest;
/** The damaged content byte, and the group holding it. */
let bad: number;
let badGroup: number;
const errors: unknown[] = [];

before(async () => {
  root = await tempDir('blob-serve');
  const served = await dataDir(root, 'server');
  bytes = randomBytes(8 * MiB);
  digest = await putBlob(served, bytes);
  // Damage one byte in the chunk that holds the middle of the blob.
  const blob = (await openStoredBlob(served, digest))!;
  const mid = 4 * MiB + 777;
  const [span] = await blob.chunksUnder([{ start: mid, end: mid + 1 }]);
  await blob.close();
  const at = await chunkAt({ data: served, root, cleanup: async () => undefined }, span!.chunk.digest);
  assert.ok(at.file.startsWith(served.layout.packs), `the chunk is packed: ${at.file}`);
  assert.equal(at.size, span!.chunk.size);
  await flipByte(at.file, at.offset + (mid - span!.start));
  bad = mid;
  badGroup = Math.floor(mid / GROUP) * GROUP;
  server = await CastorNode.start(served, { listen: ['/ip4/127.0.0.1/tcp/0'], dht: false, onError: (err) => errors.push(err) });
  client = await CastorNode.start(await dataDir(root, 'client'), { listen: [], dht: false });
  peer = (await client.host.dial(multiaddr(server.addresses()[0]!))).remotePeer;
});

after(async () => {
  await client?.stop();
  await server?.stop();
  await removeDir(root);
});

test('ranges that do not reach the damaged group are served and verify', async () => {
  const ranges = [{ start: 0, end: 2 * MiB }, { start: badGroup + GROUP, end: 8 * MiB }];
  const answer = await requestBlob(client.host, peer, digest, ranges);
  const parts: Uint8Array[] = [];
  for await (const p of decodeAnswer(answer!)) parts.push(p.slice());
  assert.ok(Buffer.concat(parts).equals(Buffer.concat([bytes.subarray(0, 2 * MiB), bytes.subarray(badGroup + GROUP)])));
});

test('a slice through the damaged group stops before it: none of its bytes are sent, and the server reports the mismatch', async () => {
  errors.length = 0;
  const answer = await requestBlob(client.host, peer, digest);
  const parts: Uint8Array[] = [];
  await assert.rejects(async () => {
    for await (const p of decodeAnswer(answer!)) parts.push(p.slice());
  });
  const got = Buffer.concat(parts);
  assert.ok(got.equals(Buffer.from(bytes.subarray(0, got.length))), 'released bytes are genuine');
  assert.ok(got.length <= bad);
  // What arrived is at most the slice before the damaged group and the parents above it.
  const received = answer!.exchange.bytes.input.received;
  assert.ok(received <= sliceLength(bytes.length, [{ start: 0, end: badGroup }]) + 64 * 24, `received ${received}`);
  assert.ok(errors.some((e) => e instanceof Error && (e as { code?: string }).code === 'HASH_MISMATCH'), `server errors: ${errors.map(String).join('; ')}`);
});
