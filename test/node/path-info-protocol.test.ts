// /castor/path-info/1 between real nodes on 127.0.0.1: a PathInfo held in one node's data
// dir is answered whole (node, narHash, narSize, references, deriver, signatures, CA) and
// unknown hash parts are NOT_FOUND; a store path held before start is announced under its
// DHT key and found by a node never given the holder's address; a peer answering with
// another path's info, or with bytes that are not an Index of one entry, is a liar.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generateKeyPair as generatePeerKey } from '@libp2p/crypto/keys';
import { CastorNode } from '../../src/node/castor-node.js';
import { dhtProviders, storePathKey } from '../../src/node/discovery/index.js';
import { createHost, parseMultiaddr, type Host } from '../../src/node/host.js';
import { ExchangeServer, requestPathInfo } from '../../src/node/protocols/index.js';
import { PathInfoResponse, Status } from '../../src/node/protocols/exchange-pb.js';
import { PATH_INFO_PROTOCOL } from '../../src/node/protocols/ids.js';
import { encodeIndex, hashPartBytes, PathInfoStore, signPathInfo, STORE_DIR, toIndexEntry, TrustStore, type PathInfo } from '../../src/store/index.js';
import { generateKeyPair, nix32Encode } from '../../src/verify/index.js';
import { dataDir, removeDir, tempDir } from './node-fixture.js';

const key = generateKeyPair('castor-test-1');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const newHash = (): string => nix32Encode(randomBytes(20));

function pathInfo(name: string, references: string[] = [], extra: Partial<PathInfo> = {}): PathInfo {
  return signPathInfo({
    storePath: `${STORE_DIR}/${newHash()}-${name}`, node: { symlink: { name: new Uint8Array(0), target: enc(`/target/${name}`) } },
    narHash: new Uint8Array(randomBytes(32)), narSize: 136, references, signatures: [], ...extra,
  }, key.secret);
}

let root: string;
let holder: CastorNode;
let hub: CastorNode;
let asker: CastorNode;
let liar: Host;
const dep = pathInfo('dep');
const top = pathInfo('top', [dep.storePath], { deriver: `${STORE_DIR}/${newHash()}-top.drv` });

before(async () => {
  root = await tempDir('path-info');
  const hubData = await dataDir(root, 'hub');
  hub = await CastorNode.start(hubData, { listen: ['/ip4/127.0.0.1/tcp/0'] });
  const holderData = await dataDir(root, 'holder');
  const infos = new PathInfoStore(holderData.layout, { durable: false });
  await infos.put(dep, { trustedKeys: [key.public] });
  await infos.put(top, { trustedKeys: [key.public] });
  holder = await CastorNode.start(holderData, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [hub.addresses()[0]!] });
  asker = await CastorNode.start(await dataDir(root, 'asker'), { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [hub.addresses()[0]!] });
  liar = await createHost({ privateKey: await generatePeerKey('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false, mdns: false });
});

after(async () => {
  await Promise.all([holder, hub, asker].map((n) => n.stop()));
  await liar?.stop();
  await removeDir(root);
});

test('a held PathInfo is answered whole; an unknown hash part is not found', async () => {
  const peer = (await asker.host.dial(parseMultiaddr(holder.addresses()[0]!))).remotePeer;
  const got = await requestPathInfo(asker.host, peer, top.storePath.slice(11, 43));
  assert.deepEqual(got, await new PathInfoStore(holder.data.layout).get(top.storePath));
  assert.equal(got!.deriver, top.deriver);
  assert.deepEqual(got!.references, [dep.storePath]);
  assert.equal(await requestPathInfo(asker.host, peer, newHash()), undefined);
});

test('a store path held at start is announced under its DHT key and found by a node never given the holder\'s address', async () => {
  const hashPart = dep.storePath.slice(11, 43);
  // The start announcement runs in the background: look until the record is there.
  let found: string[] = [];
  for (let i = 0; i < 100 && !found.includes(holder.peerId); i++) {
    found = [];
    for await (const p of dhtProviders(asker.host, storePathKey(hashPartBytes(hashPart)), { settle: Infinity })) found.push(p.id.toString());
    if (!found.includes(holder.peerId)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(found.includes(holder.peerId), `the DHT names the holder (got ${found.join(', ')})`);
  const peers = await asker.findStorePathProviders(hashPart);
  assert.ok(peers.some((p) => p.toString() === holder.peerId));
});

test('a peer that answers with another path\'s info, or not with one entry, is a liar', async () => {
  let answer: Uint8Array = new Uint8Array(0);
  const data = await dataDir(root, 'liar');
  const server = new ExchangeServer(liar, { data, trust: new TrustStore(data) }, [{
    protocol: PATH_INFO_PROTOCOL,
    errorHeader: (status, error) => PathInfoResponse.encode({ status, entry: new Uint8Array(0), error }),
    serve: async (_request, out) => out.header(PathInfoResponse.encode({ status: Status.OK, entry: new Uint8Array(answer), error: '' })),
  }]);
  await server.start();
  const peer = await asker.host.dial(liar.getMultiaddrs()[0]!).then((c) => c.remotePeer);
  answer = encodeIndex([toIndexEntry(dep)]);
  await assert.rejects(requestPathInfo(asker.host, peer, top.storePath.slice(11, 43)), { code: 'PEER_MISBEHAVED', message: /answered with \/nix\/store\/\S+-dep's/u });
  answer = encodeIndex([toIndexEntry(dep), toIndexEntry(top)].sort((a, b) => Buffer.compare(a.name, b.name)));
  await assert.rejects(requestPathInfo(asker.host, peer, dep.storePath.slice(11, 43)), { code: 'PEER_MISBEHAVED', message: /an Index of 2 entries, not 1/u });
  answer = enc('not an index at all');
  await assert.rejects(requestPathInfo(asker.host, peer, dep.storePath.slice(11, 43)), { code: 'PEER_MISBEHAVED' });
  await server.stop();
});
