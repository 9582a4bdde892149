// A serving node (its own process) facing malformed and oversized requests on every
// protocol: each gets a BAD_REQUEST answer (or its stream reset), the server keeps serving
// the same client and others, and a peer that keeps breaking the protocol is disconnected.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { PeerId, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { CastorNode } from '../../src/node/castor-node.js';
import { MAX_RANGES, MAX_REQUEST_BYTES, MAX_REQUESTS_PER_PEER, MAX_VIOLATIONS_PER_PEER } from '../../src/node/limits.js';
import { BlobRequest, BlobResponse, DirectoryRequest, DirectoryResponse, IndexRequest, IndexResponse, StatRequest, StatResponse, Status } from '../../src/node/protocols/exchange-pb.js';
import { BLOB_PROTOCOL, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, STAT_PROTOCOL } from '../../src/node/protocols/ids.js';
import { framed, StreamBytes, varint } from '../../src/node/stream-io.js';
import type { Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

let root: string;
let server: ServerProcess;
let client: CastorNode;
let peer: PeerId;
let blob: Uint8Array;
let digest: Digest;

before(async () => {
  root = await tempDir('node-limits');
  const served = await dataDir(root, 'server');
  blob = randomBytes(300_000);
  digest = await putBlob(served, blob);
  server = await startServer(path.join(root, 'server'));
  client = await CastorNode.start(await dataDir(root, 'client'), { listen: [] });
  peer = (await client.host.dial(multiaddr(server.address))).remotePeer;
});

after(async () => {
  await client?.stop();
  await server?.stop();
  await removeDir(root);
});

const HEADERS: Record<string, (b: Uint8Array) => { status: Status; error: string }> = {
  [BLOB_PROTOCOL]: (b) => BlobResponse.decode(b),
  [STAT_PROTOCOL]: (b) => StatResponse.decode(b),
  [DIRECTORY_PROTOCOL]: (b) => DirectoryResponse.decode(b),
  [INDEX_PROTOCOL]: (b) => IndexResponse.decode(b),
};

/** Sends raw `bytes` on a new stream of `protocol` and reads the response header's status and error text. */
async function raw(protocol: string, bytes: Uint8Array, closeWrite = true): Promise<{ status: Status; error: string } | 'reset'> {
  const stream: Stream = await client.host.dialProtocol(peer, protocol);
  const input = new StreamBytes(stream);
  stream.send(bytes);
  if (closeWrite) await stream.close();
  try {
    const r = HEADERS[protocol]!(await input.readMessage(65536, 'header'));
    return { status: r.status, error: r.error };
  } catch {
    return 'reset';
  }
}

async function stillServes(): Promise<void> {
  const other = await CastorNode.start(await dataDir(root, `other-${Math.random().toString(36).slice(2)}`), { listen: [] });
  try {
    assert.equal((await other.fetch(digest, { peers: [server.address] })).bytes, blob.length);
  } finally {
    await other.stop();
  }
  const again = await raw(BLOB_PROTOCOL, framed(BlobRequest.encode({ digest: new Uint8Array(digest), ranges: [], groupLog: 4 })));
  assert.ok(again !== 'reset' && again.status === Status.OK, 'the same client is still served');
}

const good = (over: Partial<BlobRequest> = {}): Uint8Array => framed(BlobRequest.encode({ digest: new Uint8Array(digest), ranges: [], groupLog: 4, ...over }));

test('oversized and malformed blob requests are answered BAD_REQUEST and the server keeps serving', async () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['a length prefix over the cap', Uint8Array.from([...varint(MAX_REQUEST_BYTES + 1), 1, 2, 3]), /over the 65536-byte limit/],
    ['a length prefix of 2^40', Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]), /length prefix/],
    ['bytes that are not protobuf', framed(Uint8Array.from([0xff, 0xff, 0xff, 0xff])), /does not decode/],
    ['a 31-byte digest', good({ digest: new Uint8Array(31) }), /31 bytes, not 32/],
    ['group log 3', good({ groupLog: 3 }), /group log 3/],
    ['a range ending before it starts', good({ ranges: [{ start: 10n, end: 5n }] }), /ends before it starts/],
    ['a range beyond 2^53', good({ ranges: [{ start: 0n, end: 1n << 60n }] }), /beyond 2\^53/],
    [`${MAX_RANGES + 1} ranges`, good({ ranges: Array.from({ length: MAX_RANGES + 1 }, (_, i) => ({ start: BigInt(i), end: BigInt(i + 1) })) }), /ranges|decode/],
  ];
  for (const [what, bytes, reason] of cases) {
    const r = await raw(BLOB_PROTOCOL, bytes);
    assert.ok(r !== 'reset', `${what}: answered`);
    assert.equal(r.status, Status.BAD_REQUEST, what);
    assert.match(r.error, reason, what);
  }
  await stillServes();
});

test('the other protocols refuse malformed requests the same way', async () => {
  for (const [protocol, bytes] of [
    [STAT_PROTOCOL, framed(StatRequest.encode({ digest: new Uint8Array(5) }))],
    [DIRECTORY_PROTOCOL, framed(DirectoryRequest.encode({ digest: new Uint8Array(40), recursive: true }))],
    [INDEX_PROTOCOL, framed(IndexRequest.encode({ publicKey: new Uint8Array(31) }))],
    [INDEX_PROTOCOL, framed(Uint8Array.from([0x0a, 0x7f]))],
  ] as const) {
    const r = await raw(protocol, bytes);
    assert.ok(r !== 'reset' && r.status === Status.BAD_REQUEST, protocol);
  }
  // A request cut short (the stream closed mid-message) is a violation too, not a crash.
  const cut = await raw(BLOB_PROTOCOL, good().subarray(0, 10));
  assert.ok(cut === 'reset' || cut.status === Status.BAD_REQUEST);
  // Absence is NOT_FOUND, not an error.
  const absent = await raw(BLOB_PROTOCOL, good({ digest: new Uint8Array(32) }));
  assert.ok(absent !== 'reset' && absent.status === Status.NOT_FOUND);
  await stillServes();
});

test(`more than ${MAX_REQUESTS_PER_PEER} requests in flight from one peer: the extra one is BUSY`, async () => {
  // Requests that never finish arriving hold their slot (until the request timeout).
  const stalled: Stream[] = [];
  // Protocols without a per-peer share of their own (blob has MAX_BLOB_SERVES_PER_PEER).
  const protocols = [STAT_PROTOCOL, INDEX_PROTOCOL];
  for (let i = 0; i < MAX_REQUESTS_PER_PEER; i++) {
    const s = await client.host.dialProtocol(peer, protocols[i % 2]!);
    s.send(Uint8Array.from([0x40]));
    stalled.push(s);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const r = await raw(DIRECTORY_PROTOCOL, framed(DirectoryRequest.encode({ digest: new Uint8Array(digest), recursive: false })));
  assert.ok(r !== 'reset' && r.status === Status.BUSY, `got ${JSON.stringify(r)}`);
  for (const s of stalled) s.abort(new Error('test done'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await stillServes();
});

test(`a peer that breaks the protocol ${MAX_VIOLATIONS_PER_PEER} times is disconnected, and may come back`, async () => {
  const rude = await CastorNode.start(await dataDir(root, 'rude'), { listen: [] });
  try {
    const rudePeer = (await rude.host.dial(multiaddr(server.address))).remotePeer;
    for (let i = 0; i < MAX_VIOLATIONS_PER_PEER; i++) {
      try {
        const s = await rude.host.dialProtocol(rudePeer, BLOB_PROTOCOL);
        const input = new StreamBytes(s);
        s.send(framed(Uint8Array.from([0xff, 0xff])));
        await s.close();
        await input.readMessage(65536, 'header');
      } catch {
        // The last ones may find the connection already closing.
      }
    }
    for (let i = 0; i < 50 && rude.peers().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(rude.peers(), [], 'disconnected');
    assert.equal((await rude.fetch(digest, { peers: [server.address] })).bytes, blob.length);
  } finally {
    await rude.stop();
  }
  await stillServes();
});
