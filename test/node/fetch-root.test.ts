// Fetching a publisher's signed root from peers in other processes (CastorNode.fetchRoot
// and the TrustStore): accepted when the key is trusted, then KEY/NAME resolves and the
// tree it names fetches; refused when the key is not trusted, and refused as a rollback
// when a peer offers an older root than this data dir accepted.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { decodeRootBundle, TrustStore } from '../../src/store/trust/index.js';
import { formatPublicKey, generateKeyPair } from '../../src/verify/keys.js';
import { asDigest, digestEquals } from '../../src/store/digest.js';
import { dataDir, randomBytes, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = generateKeyPair('cache.test-1');
let root: string;
let newer: ServerProcess;
let older: ServerProcess;
let treeDigest: Uint8Array;

before(async () => {
  root = await tempDir('node-root');
  const src = path.join(root, 'src');
  await mkdir(path.join(src, 'bin'), { recursive: true });
  await writeFile(path.join(src, 'bin', 'hello'), randomBytes(100_000));
  // The publisher's data dir: sequence 1 (exported for the older peer), then sequence 2.
  const pub = await dataDir(root, 'newer');
  treeDigest = (await ingestPath(src, pub)).digest;
  const trust = new TrustStore(pub);
  await trust.publish(key.secret, { set: [{ name: enc('first'), digest: asDigest(treeDigest) }] });
  const bundle1 = decodeRootBundle(await trust.exportBundle(formatPublicKey(key.public)));
  await trust.publish(key.secret, { set: [{ name: enc('hello'), digest: asDigest(treeDigest) }] });
  // A peer that only ever saw sequence 1.
  const old = await dataDir(root, 'older');
  await new TrustStore(old, { extraKeys: [key.public] }).accept(bundle1.root, bundle1.index);
  newer = await startServer(path.join(root, 'newer'));
  older = await startServer(path.join(root, 'older'));
});

after(async () => {
  await newer?.stop();
  await older?.stop();
  await removeDir(root);
});

async function client(name: string, trusted: boolean): Promise<CastorNode> {
  const data = await dataDir(root, name);
  if (trusted) await writeFile(data.layout.config, JSON.stringify({ trustedKeys: [formatPublicKey(key.public)] }));
  return CastorNode.start(data, { listen: [] });
}

test('a trusted key: the newest root is accepted, KEY/NAME resolves, and the tree it names is fetched', async () => {
  const node = await client('trusting', true);
  try {
    const accepted = await node.fetchRoot(key.public.publicKey, { peers: [older.address, newer.address] });
    assert.equal(accepted.root.sequence, 2n);
    assert.equal(accepted.root.keyName, 'cache.test-1');
    const { entry } = await node.trust.resolve(formatPublicKey(key.public), enc('hello'));
    assert.ok(entry?.node !== undefined && 'directory' in entry.node);
    const digest = asDigest(entry.node.directory.digest);
    assert.ok(digestEquals(digest, treeDigest));
    const r = await node.fetch(digest, { peers: [newer.address] });
    assert.equal(r.type, 'directory');
    assert.equal(r.files, 1);
  } finally {
    await node.stop();
  }
});

test('an untrusted key is refused and nothing is accepted', async () => {
  const node = await client('sceptic', false);
  try {
    await assert.rejects(node.fetchRoot(key.public.publicKey, { peers: [newer.address] }), { code: 'UNTRUSTED_KEY' });
    assert.equal(await node.trust.state.accepted(key.public.publicKey), undefined);
  } finally {
    await node.stop();
  }
});

test('a peer offering an older root than the one accepted here: ROLLBACK, and the accepted root stays', async () => {
  const node = await client('rollback', true);
  try {
    assert.equal((await node.fetchRoot(key.public.publicKey, { peers: [newer.address] })).root.sequence, 2n);
    await assert.rejects(node.fetchRoot(key.public.publicKey, { peers: [older.address] }), { code: 'ROLLBACK' });
    assert.equal((await node.trust.state.accepted(key.public.publicKey))?.root.sequence, 2n);
  } finally {
    await node.stop();
  }
});

test('a key no peer has a root for is NOT_FOUND; a malformed key is refused before asking', async () => {
  const node = await client('nothing', true);
  try {
    await assert.rejects(node.fetchRoot(generateKeyPair('other-1').public.publicKey, { peers: [newer.address] }), { code: 'NOT_FOUND' });
    await assert.rejects(node.fetchRoot(new Uint8Array(31), { peers: [newer.address] }), { code: 'INVALID_INPUT' });
  } finally {
    await node.stop();
  }
});
