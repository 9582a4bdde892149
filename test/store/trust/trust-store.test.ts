// TrustStore on a real data dir: publishing accumulates, accepting persists (rollback
// refused after a restart), equivocation is kept as evidence, trusted keys come from
// config.json, resolving goes only through usable roots, and trustRoots names what
// accepted roots keep alive.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { EMPTY_DIRECTORY, directoryFrom } from '../../../src/store/castore/index.js';
import { type DataDir, openDataDir } from '../../../src/store/disk/data-dir.js';
import { type Digest, formatDigest } from '../../../src/store/digest.js';
import {
  EquivocationError, ExpiredRootError, NoRootError, PublishError, RollbackError, TrustStore, UntrustedKeyError,
  decodeRootBundle, storeIndexBlob, trustRoots,
} from '../../../src/store/trust/index.js';
import { formatPublicKey, publicKeyOf } from '../../../src/verify/keys.js';
import { digestOf, dirNode, enc, entries, indexOf, keys, rootOver, symlinkNode } from './fixtures.js';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function dataDir(): Promise<DataDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-trust-'));
  dirs.push(dir);
  return openDataDir(dir, { durable: false });
}

async function blob(data: DataDir, text: string): Promise<Digest> {
  return storeIndexBlob(data.blobs, enc(text));
}

const names = (view: { entries(): Iterable<{ name: Uint8Array }> }): string[] => [...view.entries()].map((e) => new TextDecoder().decode(e.name));

test('publish: names accumulate over publishes, --remove drops one, the sequence rises, nodes come from the store', async () => {
  const data = await dataDir();
  const { secret } = keys('pub-1');
  const trust = new TrustStore(data);
  const file = await blob(data, 'hello');
  const dir = await data.directories.put(directoryFrom([{ file: { name: enc('x'), digest: file, size: 5n, executable: true } }]));
  const first = await trust.publish(secret, { set: [{ name: enc('f'), digest: file }] });
  assert.equal(first.accepted.root.sequence, 1n);
  const second = await trust.publish(secret, { set: [{ name: enc('d'), digest: dir }, { name: enc('e'), digest: await data.directories.put(EMPTY_DIRECTORY) }] });
  assert.equal(second.accepted.root.sequence, 2n);
  assert.deepEqual(names(await trust.view(second.accepted)), ['d', 'e', 'f']);
  const d = (await trust.resolve('pub-1', enc('d'))).entry!;
  assert.deepEqual(d.node, { directory: { name: new Uint8Array(0), digest: dir, size: 1n } });
  const f = (await trust.resolve('pub-1', enc('f'))).entry!;
  assert.deepEqual(f.node, { file: { name: new Uint8Array(0), digest: file, size: 5n, executable: false } });
  const third = await trust.publish(secret, { remove: [enc('e')] });
  assert.equal(third.accepted.root.sequence, 3n);
  assert.deepEqual(names(await trust.view(third.accepted)), ['d', 'f']);
  await assert.rejects(trust.publish(secret, { remove: [enc('e')] }), (e: unknown) => e instanceof PublishError && e.code === 'NO_SUCH_NAME');
  await assert.rejects(trust.publish(secret, { set: [{ name: enc('g'), digest: digestOf(424242) as Digest }] }), (e: unknown) => e instanceof PublishError && e.code === 'NOT_IN_STORE');
  // Nothing above changed the accepted root.
  assert.equal((await trust.findAccepted('pub-1')).root.sequence, 3n);
  // The data dir trusts the key it published with, and only the last index keeps a lookup file.
  assert.deepEqual((await trust.trustedKeys()).map(formatPublicKey), [formatPublicKey(publicKeyOf(secret))]);
  assert.equal((await readdir(path.join(data.layout.trust, 'lookup'))).length, 1);
});

test('rollback is refused after a restart; equivocation is kept as evidence; the same root again is a no-op', async () => {
  const { secret } = keys('pub-2');
  const home = await dataDir();
  const publisher = new TrustStore(home);
  const v1 = decodeRootBundle(await (async () => { await publisher.publish(secret, { set: [{ name: enc('a'), node: dirNode(1) }] }); return publisher.exportBundle('pub-2'); })());
  await publisher.publish(secret, { set: [{ name: enc('b'), node: dirNode(2) }] });
  const v2 = decodeRootBundle(await publisher.exportBundle('pub-2'));

  const mirrorDir = await dataDir();
  const key = { name: 'pub-2', publicKey: secret.secretKey.slice(32) };
  assert.equal((await new TrustStore(mirrorDir, { extraKeys: [key] }).accept(v2.root, v2.index)).verdict, 'new');
  // A new process: the state comes from the data dir alone.
  const restarted = new TrustStore(await openDataDir(mirrorDir.layout.root, { durable: false }), { extraKeys: [key] });
  await assert.rejects(restarted.accept(v1.root, v1.index), RollbackError);
  assert.equal((await restarted.accept(v2.root, v2.index)).verdict, 'same');

  // The publisher's key signs another index under sequence 2 (say, from another machine).
  const forkIndex = indexOf(entries(['forked']));
  const fork = rootOver(secret, forkIndex, { sequence: 2n, timestamp: v2.root.timestamp });
  const err = await restarted.accept(fork, forkIndex).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof EquivocationError);
  assert.ok(err.evidencePath !== undefined);
  assert.deepEqual(await restarted.state.evidence(), [err.evidencePath]);
  // The accepted root is unchanged.
  assert.equal(formatDigest((await restarted.findAccepted('pub-2')).root.indexDigest), formatDigest(v2.root.indexDigest));
});

test('trusted keys from config.json; unknown keys refused; --trusted-key text and files', async () => {
  const data = await dataDir();
  const { secret, public: pub } = keys('cfg-1');
  const index = indexOf(entries(['p', 'q']));
  const root = rootOver(secret, index);
  await assert.rejects(new TrustStore(data).accept(root, index), UntrustedKeyError);
  await writeFile(data.layout.config, JSON.stringify({ other: true, trustedKeys: [formatPublicKey(pub)] }));
  assert.equal((await new TrustStore(data).accept(root, index)).verdict, 'new');
  await writeFile(data.layout.config, '{ not json');
  await assert.rejects(new TrustStore(data).trustedKeys(), (e: unknown) => (e as { code?: string }).code === 'INVALID_CONFIG');
  await writeFile(data.layout.config, JSON.stringify({ trustedKeys: ['cfg-1:short'] }));
  await assert.rejects(new TrustStore(data).trustedKeys(), (e: unknown) => (e as { code?: string }).code === 'INVALID_CONFIG');
});

test('resolve goes only through a usable root: trusted now, unexpired; a lost lookup file is rebuilt', async () => {
  const data = await dataDir();
  const { secret, public: pub } = keys('res-1');
  let now = 1000n;
  const index = indexOf([{ name: enc('a'), node: dirNode(1) }, { name: enc('l'), node: symlinkNode('/x') }]);
  const root = rootOver(secret, index, { timestamp: 900n, expires: 2000n });
  const trust = new TrustStore(data, { extraKeys: [pub], now: () => now });
  await trust.accept(root, index);
  assert.ok((await trust.resolve('res-1', enc('a'))).entry);
  assert.equal((await trust.resolve(formatPublicKey(pub), enc('nope'))).entry, undefined);
  assert.ok((await trust.resolve(Buffer.from(pub.publicKey).toString('hex'), enc('l'))).entry);
  await assert.rejects(trust.resolve('nobody', enc('a')), NoRootError);
  // Without the key trusted any more, the recorded root is not used.
  await assert.rejects(new TrustStore(data, { now: () => now }).resolve('res-1', enc('a')), UntrustedKeyError);
  // Lookup file gone or damaged: rebuilt from the (verified) index.
  const lookupDir = path.join(data.layout.trust, 'lookup');
  const [lookup] = await readdir(lookupDir);
  await writeFile(path.join(lookupDir, lookup!), 'garbage');
  assert.ok((await trust.resolve('res-1', enc('a'))).entry);
  await rm(path.join(lookupDir, lookup!));
  assert.ok((await trust.resolve('res-1', enc('l'))).entry);
  now = 2000n;
  await assert.rejects(trust.resolve('res-1', enc('a')), ExpiredRootError);
});

test('trustRoots yields each accepted root\'s index and its entries\' directory and file digests', async () => {
  const data = await dataDir();
  const trust = new TrustStore(data);
  const a = keys('gc-a');
  const b = keys('gc-b');
  const file = await blob(data, 'content');
  const dir = await data.directories.put(EMPTY_DIRECTORY);
  const ra = await trust.publish(a.secret, { set: [{ name: enc('dir'), digest: dir }, { name: enc('file'), digest: file }, { name: enc('link'), node: symlinkNode('/nix') }] });
  const rb = await trust.publish(b.secret, { set: [{ name: enc('only'), digest: file }] });
  const got = new Set<string>();
  for await (const d of trustRoots(data)) got.add(formatDigest(d));
  assert.deepEqual(got, new Set([ra.accepted.root.indexDigest, rb.accepted.root.indexDigest, dir, file].map((d) => formatDigest(d))));
  // Two processes publishing with one key are serialised by the key lock: both land, in some order.
  const [x, y] = await Promise.all([
    trust.publish(a.secret, { set: [{ name: enc('x'), digest: file }] }),
    new TrustStore(await openDataDir(data.layout.root, { durable: false })).publish(a.secret, { set: [{ name: enc('y'), digest: file }] }),
  ]);
  assert.deepEqual([x.accepted.root.sequence, y.accepted.root.sequence].sort(), [2n, 3n]);
  assert.deepEqual(names(await trust.view(await trust.findAccepted('gc-a'))), ['dir', 'file', 'link', 'x', 'y']);
});
