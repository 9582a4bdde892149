// The node's host: a persistent identity in the data dir, addresses, dialling, bootstrap
// peers, and refusing what cannot work (a malformed identity, a bad multiaddr, a port taken).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { CastorNode } from '../../src/node/castor-node.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../src/node/identity.js';
import { dataDir, removeDir, tempDir } from './node-fixture.js';

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0'];
let root: string;

before(async () => { root = await tempDir('node-host'); });
after(async () => { await removeDir(root); });

test('the identity is made once, mode 0600, and the peer id survives a restart', async () => {
  const data = await dataDir(root, 'same');
  const first = await CastorNode.start(data, { listen: LOOPBACK });
  const id = first.peerId;
  await first.stop();
  const file = path.join(data.layout.root, IDENTITY_FILE);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const again = await CastorNode.start(data, { listen: LOOPBACK });
  try {
    assert.equal(again.peerId, id);
    for (const a of again.addresses()) assert.ok(a.startsWith('/ip4/127.0.0.1/tcp/') && a.endsWith(`/p2p/${id}`), a);
  } finally {
    await again.stop();
  }
});

test('a malformed or foreign identity.key is refused with its path, never replaced', async () => {
  const data = await dataDir(root, 'bad');
  const file = path.join(data.layout.root, IDENTITY_FILE);
  for (const bytes of [new Uint8Array(0), new TextEncoder().encode('not a key'), privateKeyToProtobuf(await generateKeyPair('secp256k1'))]) {
    await writeFile(file, bytes);
    await assert.rejects(loadOrCreateIdentity(data.layout.root), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BAD_IDENTITY');
      assert.ok(err.message.includes(file), err.message);
      return true;
    });
    await assert.rejects(CastorNode.start(data, { listen: LOOPBACK }), { code: 'BAD_IDENTITY' });
  }
});

test('connect, peers, bootstrap at start; bad addresses and taken ports are errors', async () => {
  const a = await CastorNode.start(await dataDir(root, 'a'), { listen: LOOPBACK });
  try {
    const b = await CastorNode.start(await dataDir(root, 'b'), { listen: [], bootstrap: [a.addresses()[0]!] });
    try {
      assert.deepEqual(b.peers().map((p) => p.peerId), [a.peerId]);
      assert.equal(await b.connect(a.addresses()[0]!), a.peerId);
      await assert.rejects(b.connect('/ip4/not-an-ip/tcp/1'), { code: 'INVALID_ADDRESS' });
      await assert.rejects(b.connect('ip4/127.0.0.1'), { code: 'INVALID_ADDRESS' });
      await assert.rejects(b.connect('/ip4/127.0.0.1/tcp/1'), { code: 'DIAL_FAILED' });
    } finally {
      await b.stop();
    }
    // A bootstrap peer that is not there does not stop a start.
    const lonely = await CastorNode.start(await dataDir(root, 'lonely'), { listen: [], bootstrap: ['/ip4/127.0.0.1/tcp/1'] });
    assert.deepEqual(lonely.peers(), []);
    await lonely.stop();
    // An explicit listen address already bound is an error, not a silent fallback.
    const port = /\/tcp\/(\d+)\//.exec(a.addresses()[0]!)![1];
    await assert.rejects(CastorNode.start(await dataDir(root, 'clash'), { listen: [`/ip4/127.0.0.1/tcp/${port}`] }));
  } finally {
    await a.stop();
  }
});
