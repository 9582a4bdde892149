// The binary cache server in this process, over a disk store and its PathInfoStore,
// against real Nix 2.8: nix copy --to (xz, none, zstd), substitution with nix copy
// --from and nix-store --realise, signatures, bad uploads, malformed requests.
// Skipped without nix.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { NixCacheServer } from '../../src/node/nix-cache/index.js';
import { PathInfoStore } from '../../src/store/index.js';
import { generateKeyPair, formatPublicKey, nix32Encode, parsePublicKey } from '../../src/verify/index.js';
import { rawRequest, request } from './nix-cache-http.js';
import { tempStore, type Store } from '../store/store-fixture.js';
import { makeNixEnv, skipWithoutNix, type NixClosure, type NixEnv } from '../support/nix-env.js';

/** What `nix` says of each path in `store`: narHash, narSize, references and the NAR itself. */
async function describePaths(nixEnv: NixEnv, store: string, paths: readonly string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const p of paths) {
    const [info] = JSON.parse(await nixEnv.ok('nix', ['path-info', '--store', store, '--json', p])) as { path: string; narHash: string; narSize: number; references: string[] }[];
    const nar = await nixEnv.dumpPath(p, store);
    out.push({ path: info!.path, narHash: info!.narHash, narSize: info!.narSize, references: info!.references, narLength: nar.length, narSha256: createHash('sha256').update(nar).digest('hex') });
  }
  return out;
}

describe('binary cache server against real nix', { skip: skipWithoutNix }, () => {
  let nixEnv: NixEnv;
  let closure: NixClosure;
  let source: string;
  let expected: Record<string, unknown>[];
  const started: { server: NixCacheServer; store: Store }[] = [];

  before(async () => {
    nixEnv = await makeNixEnv();
    source = nixEnv.store;
    closure = await nixEnv.makeClosure();
    expected = await describePaths(nixEnv, source, closure.all);
  });
  after(async () => {
    for (const s of started) {
      await s.server.close();
      await s.store.cleanup();
    }
    await nixEnv?.cleanup();
  });

  const storeDir = (name: string): string => path.join(nixEnv.dir, 'stores', name);

  async function cache(options: Partial<Parameters<typeof NixCacheServer.start>[0]> = {}): Promise<{ server: NixCacheServer; pathInfos: PathInfoStore; store: Store }> {
    const store = await tempStore();
    const pathInfos = new PathInfoStore(store.data.layout, { durable: false });
    const trustedKeys = [parsePublicKey(nixEnv.publicKey)];
    const server = await NixCacheServer.start({ blobs: store.data.blobs, directories: store.data.directories, pathInfos, trustedKeys, stateDir: store.root, ...options });
    started.push({ server, store });
    return { server, pathInfos, store };
  }

  for (const compression of ['xz', 'none', 'zstd'] as const) {
    it(`nix copy --to (${compression}), then substituted by the uploader (nix copy --from) and a fresh client (nix-store --realise)`, async () => {
      const { server, pathInfos } = await cache();
      const to = compression === 'xz' ? server.url : `${server.url}?compression=${compression}`;
      await nixEnv.ok('nix', ['copy', '--store', source, '--to', to, closure.built, closure.text]);
      assert.equal((await pathInfos.hashParts()).length, 4, 'every path of the closure was put');
      const trust = ['--option', 'trusted-public-keys', nixEnv.publicKey];
      const copied = storeDir(`copied-${compression}`);
      await nixEnv.ok('nix', ['copy', '--from', server.url, '--to', copied, ...trust, closure.built, closure.text]);
      assert.deepEqual(await describePaths(nixEnv, copied, closure.all), expected);
      // The uploader's own Nix asked by the names it uploaded under (its narinfo cache
      // keeps them); a fresh client asks by the names castor's narinfos give.
      const client = await nixEnv.fresh();
      try {
        await client.ok('nix-store', ['--store', client.store, '--option', 'substituters', server.url, ...trust, '--realise', closure.built, closure.text]);
        assert.deepEqual(await describePaths(client, client.store, closure.all), expected);
      } finally {
        await client.cleanup();
      }
    });
  }

  it('a path signed by a key the client does not trust is refused by nix; the node\'s own Nix key makes it trusted', async () => {
    const { server, pathInfos, store } = await cache();
    await nixEnv.ok('nix', ['copy', '--store', source, '--to', `${server.url}?compression=none`, closure.built]);
    const other = generateKeyPair('someone-else-1');
    const refused = await nixEnv.run('nix', ['copy', '--from', server.url, '--to', storeDir('untrusted'), '--option', 'trusted-public-keys', formatPublicKey(other.public), closure.built]);
    assert.notEqual(refused.code, 0, 'nix refused the path');
    assert.match(refused.stderr, /lacks a valid signature/u);
    // The same paths served by a node that signs with its own key, which the client trusts.
    const node = generateKeyPair('castor-node-1');
    const signing = await NixCacheServer.start({ blobs: store.data.blobs, directories: store.data.directories, pathInfos, secretKey: node.secret, stateDir: store.root });
    try {
      await nixEnv.ok('nix', ['copy', '--from', signing.url, '--to', storeDir('node-signed'), '--option', 'trusted-public-keys', formatPublicKey(node.public), closure.built]);
      const narinfo = await request(signing.url, 'GET', `/${closure.built.slice(11, 43)}.narinfo`);
      assert.match(narinfo.body.toString(), /^Sig: castor-node-1:/mu);
      assert.match(narinfo.body.toString(), /^Sig: castor-test-1:/mu, 'the uploader\'s signature is kept');
    } finally {
      await signing.close();
    }
  });

  it('refuses at PUT a narinfo whose NarHash or NarSize is not its NAR\'s, a NAR that is not its name\'s file, and a body that is not a NAR', async () => {
    const { server, pathInfos } = await cache();
    const nar = await nixEnv.dumpPath(closure.tree);
    const fileHash = nix32Encode(createHash('sha256').update(nar).digest());
    const put = await request(server.url, 'PUT', `/nar/${fileHash}.nar`, nar);
    assert.equal(put.status, 200, put.body.toString());
    const [info] = JSON.parse(await nixEnv.ok('nix', ['path-info', '--store', source, '--json', closure.tree])) as { narHash: string; narSize: number; ca: string }[];
    const hashPart = closure.tree.slice(11, 43);
    const narinfo = (narHash: string, narSize: number): string =>
      `StorePath: ${closure.tree}\nURL: nar/${fileHash}.nar\nCompression: none\nNarHash: ${narHash}\nNarSize: ${narSize}\nReferences: \nCA: ${info!.ca}\n`;
    const wrongHash = `sha256:${nix32Encode(createHash('sha256').update('not this').digest())}`;
    const bad = await request(server.url, 'PUT', `/${hashPart}.narinfo`, narinfo(wrongHash, info!.narSize));
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /^narinfo of \/nix\/store\/\S+ claims NarHash sha256:\S+, but nar\/\S+ has sha256:\S+\n$/u);
    const badSize = await request(server.url, 'PUT', `/${hashPart}.narinfo`, narinfo(info!.narHash, info!.narSize + 8));
    assert.equal(badSize.status, 400);
    assert.match(badSize.body.toString(), /claims NarSize/u);
    assert.equal((await request(server.url, 'GET', `/${hashPart}.narinfo`)).status, 404, 'nothing of the refused narinfo became visible');
    assert.equal((await pathInfos.hashParts()).length, 0);
    const elsewhere = await request(server.url, 'PUT', `/${closure.text.slice(11, 43)}.narinfo`, narinfo(info!.narHash, info!.narSize));
    assert.equal(elsewhere.status, 400, 'a narinfo PUT under another path\'s hash');
    const good = await request(server.url, 'PUT', `/${hashPart}.narinfo`, narinfo(info!.narHash, info!.narSize));
    assert.equal(good.status, 200, good.body.toString());
    assert.equal((await request(server.url, 'GET', `/${hashPart}.narinfo`)).status, 200);

    const misnamed = await request(server.url, 'PUT', `/nar/${nix32Encode(createHash('sha256').update('other').digest())}.nar`, nar);
    assert.equal(misnamed.status, 400);
    assert.match(misnamed.body.toString(), /hashes to sha256:\S+, not the sha256:\S+ its name gives/u);
    const garbage = Buffer.from('this is not a NAR at all, not even close');
    const notNar = await request(server.url, 'PUT', `/nar/${nix32Encode(createHash('sha256').update(garbage).digest())}.nar`, garbage);
    assert.equal(notNar.status, 400);
    assert.match(notNar.body.toString(), /not stored: .*byte/u);
    const notXz = await request(server.url, 'PUT', `/nar/${nix32Encode(createHash('sha256').update(garbage).digest())}.nar.xz`, garbage);
    assert.equal(notXz.status, 400);
    assert.match(notXz.body.toString(), /xz/u);
    const unnamed = await request(server.url, 'PUT', `/${hashPart}.narinfo`, narinfo(info!.narHash, info!.narSize).replace(`nar/${fileHash}.nar`, `nar/${'0'.repeat(52)}.nar`));
    assert.equal(unnamed.status, 409);
    assert.match(unnamed.body.toString(), /was not uploaded/u);
  });

  it('answers malformed requests with a clear 4xx, and a stalled client does not hold up others', async () => {
    const { server } = await cache({ headersTimeout: 1000 });
    // A client that sends half its headers and then nothing.
    const stalled = rawRequest(server.url, 'GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n');
    const cases: [string, string, number, RegExp][] = [
      ['GET', '/nar/../../etc/passwd', 400, /not a NAR file name/u],
      ['GET', '/abc.narinfo', 400, /is not \/<32 characters of Nix base32>\.narinfo/u],
      ['GET', `/${'e'.repeat(32)}.narinfo`, 400, /Nix base32/u],
      ['GET', `/${'0'.repeat(32)}.narinfo`, 404, /no store path with hash/u],
      ['GET', `/nar/${'0'.repeat(52)}.nar`, 404, /is not here/u],
      ['GET', '/etc/passwd', 404, /no such file/u],
      ['DELETE', '/nix-cache-info', 405, /not allowed/u],
      ['PUT', '/nix-cache-info', 405, /cannot be replaced/u],
      ['PUT', `/nar/${'0'.repeat(32)}-${'0'.repeat(52)}.nar`, 400, /upload NARs to/u],
      ['GET', `/${'a'.repeat(300)}`, 414, /longer than/u],
    ];
    for (const [method, target, status, reason] of cases) {
      const r = await request(server.url, method, target, method === 'PUT' ? Buffer.from('x') : undefined);
      assert.equal(r.status, status, `${method} ${target}: ${r.body.toString()}`);
      assert.match(r.body.toString(), reason, `${method} ${target}`);
      assert.equal(r.body.toString().trim().split('\n').length, 1, 'one line');
    }
    const huge = await rawRequest(server.url, `GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /u);
    assert.match(huge, /headers larger than 16384 bytes/u);
    const garbage = await rawRequest(server.url, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /u);
    // Served while the stalled client still holds its connection.
    const info = await request(server.url, 'GET', '/nix-cache-info');
    assert.equal(info.status, 200);
    assert.equal(info.body.toString(), 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n');
    assert.match(await stalled, /^HTTP\/1\.1 408 /u, 'the stalled client is answered 408 once its headers are late');
  });
});
