// PeerSubstituter between real nodes on 127.0.0.1, no Nix needed: a liar serves the signed
// PathInfo of a path with its root node swapped for another tree. Asked first, it is
// dropped (logged, NAR_CLAIM_MISMATCH) and the honest peer's tree taken; alone, the path
// is refused and nothing of it stored; a path signed by no trusted key is not fetched at
// all. A reference is got (from whoever has it) before the path that names it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PeerId } from '@libp2p/interface';
import { CastorNode } from '../../src/node/castor-node.js';
import { parseMultiaddr } from '../../src/node/host.js';
import { PeerSubstituter } from '../../src/node/nix-cache/index.js';
import { asDigest, type DataDir, ingestPath, narHashOf, type Node, PathInfoStore, signPathInfo, STORE_DIR, type PathInfo } from '../../src/store/index.js';
import { generateKeyPair, nix32Encode } from '../../src/verify/index.js';
import { dataDir, removeDir, tempDir } from './node-fixture.js';

const key = generateKeyPair('castor-test-1');
const newHash = (): string => nix32Encode(randomBytes(20));

let root: string;
let honest: CastorNode;
let liar: CastorNode;
let asker: CastorNode;
let honestPeer: PeerId;
let liarPeer: PeerId;
let dep: PathInfo;
let top: PathInfo;

/** A directory of one file of `bytes` random bytes, ingested; its anonymous root node. */
async function tree(data: DataDir, name: string, bytes: number): Promise<Node> {
  const dir = path.join(root, 'src', name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'file'), randomBytes(bytes));
  const got = await ingestPath(dir, data);
  return { directory: { name: new Uint8Array(0), digest: got.digest, size: got.size } };
}

async function signed(data: DataDir, name: string, node: Node, references: string[] = []): Promise<PathInfo> {
  const { narHash, narSize } = await narHashOf(node, data.blobs, data.directories);
  return signPathInfo({ storePath: `${STORE_DIR}/${newHash()}-${name}`, node, narHash, narSize, references, signatures: [] }, key.secret);
}

before(async () => {
  root = await tempDir('peer-substituter');
  const honestData = await dataDir(root, 'honest');
  const liarData = await dataDir(root, 'liar');
  const depNode = await tree(honestData, 'dep', 40_000);
  dep = await signed(honestData, 'dep', depNode);
  top = await signed(honestData, 'top', await tree(honestData, 'top', 70_000), [dep.storePath]);
  const honestInfos = new PathInfoStore(honestData.layout, { durable: false });
  await honestInfos.put(dep, { trustedKeys: [key.public] });
  await honestInfos.put(top, { trustedKeys: [key.public] });
  // The liar holds dep truly (the same tree) and top, signed as it is, with its root swapped for another tree.
  await ingestPath(path.join(root, 'src', 'dep'), liarData);
  const other = await tree(liarData, 'other', 70_000);
  const liarInfos = new PathInfoStore(liarData.layout, { durable: false });
  await liarInfos.put(dep, { trustedKeys: [key.public] });
  await liarInfos.put({ ...top, node: other }, { trustedKeys: [key.public] });
  honest = await CastorNode.start(honestData, { listen: ['/ip4/127.0.0.1/tcp/0'], dht: false });
  liar = await CastorNode.start(liarData, { listen: ['/ip4/127.0.0.1/tcp/0'], dht: false });
  asker = await CastorNode.start(await dataDir(root, 'asker'), { listen: ['/ip4/127.0.0.1/tcp/0'], dht: false });
  honestPeer = (await asker.host.dial(parseMultiaddr(honest.addresses()[0]!))).remotePeer;
  liarPeer = (await asker.host.dial(parseMultiaddr(liar.addresses()[0]!))).remotePeer;
});

after(async () => {
  await Promise.all([honest, liar, asker].map((n) => n?.stop()));
  await removeDir(root);
});

/** A substituter on the asker's host into a fresh data dir, asking `peers` in order. */
async function substituter(name: string, peers: () => PeerId[], trusted = [key.public]): Promise<{ sub: PeerSubstituter; infos: PathInfoStore; data: DataDir; lines: string[] }> {
  const data = await dataDir(root, name);
  const infos = new PathInfoStore(data.layout, { durable: false });
  const lines: string[] = [];
  const sub = new PeerSubstituter({ host: asker.host, data, pathInfos: infos, trustedKeys: trusted, findPeers: async () => peers(), log: (l) => lines.push(l) });
  return { sub, infos, data, lines };
}

const hashPartOf = (info: PathInfo): string => info.storePath.slice(STORE_DIR.length + 1, STORE_DIR.length + 33);

test('a liar asked first is dropped and the honest peer\'s tree is taken; the reference comes first', async () => {
  const { sub, infos, data, lines } = await substituter('s-both', () => [liarPeer, honestPeer]);
  assert.equal(await sub.substitute(hashPartOf(top)), true);
  const held = new PathInfoStore(honest.data.layout);
  assert.deepEqual(await infos.get(top.storePath), await held.get(top.storePath));
  assert.deepEqual(await infos.get(dep.storePath), await held.get(dep.storePath), 'the reference was got too');
  const nar = await narHashOf(top.node!, data.blobs, data.directories);
  assert.deepEqual(nar, { narHash: top.narHash, narSize: top.narSize });
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, new RegExp(`^peer dropped: peer ${liar.peerId}: the tree of ${top.storePath} renders to a NAR of \\d+ bytes with sha256:\\S+, not the ${top.narSize} bytes and sha256:\\S+ it claims$`, 'u'));
});

test('with only the liar the path is refused and not stored; a path no trusted key signed is not taken', async () => {
  const alone = await substituter('s-liar', () => [liarPeer]);
  await assert.rejects(alone.sub.substitute(hashPartOf(top)), { code: 'NAR_CLAIM_MISMATCH' });
  assert.equal(await alone.infos.get(top.storePath), undefined);
  const other = generateKeyPair('someone-else-1');
  const untrusting = await substituter('s-untrusted', () => [honestPeer], [other.public]);
  await assert.rejects(untrusting.sub.substitute(hashPartOf(top)), { code: 'UNTRUSTED_PATH' });
  assert.deepEqual(await untrusting.infos.hashParts(), []);
  assert.equal(await untrusting.data.directories.get(asDigest((top.node as { directory: { digest: Uint8Array } }).directory.digest)), undefined, 'its tree was not fetched');
});
