// The binary cache's substitution of a path it does not hold (substituter.ts), with a
// substituter the test holds back: a narinfo request waits at most substituteWait and
// gets 404 while the substitution goes on; requests meanwhile join it (one run per path);
// once it is done the path is served; a failing substituter is logged and the next tried.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NixCacheServer, type NixSubstituter } from '../../src/node/nix-cache/index.js';
import { PathInfoStore, signPathInfo, STORE_DIR, type PathInfo } from '../../src/store/index.js';
import { CastorError, generateKeyPair, nix32Encode } from '../../src/verify/index.js';
import { request } from './nix-cache-http.js';
import { tempStore, type Store } from '../store/store-fixture.js';

const key = generateKeyPair('castor-test-1');

/** A signed PathInfo of a symlink (no blob to hold), under a random hash part. */
function fakePath(): { hashPart: string; info: PathInfo } {
  const hashPart = nix32Encode(randomBytes(20));
  const info = signPathInfo({
    storePath: `${STORE_DIR}/${hashPart}-fake`, node: { symlink: { name: new Uint8Array(0), target: new TextEncoder().encode('/elsewhere') } },
    narHash: new Uint8Array(randomBytes(32)), narSize: 120, references: [], signatures: [],
  }, key.secret);
  return { hashPart, info };
}

/** A substituter that puts `info` once released, counting its runs. */
class HeldSubstituter implements NixSubstituter {
  readonly name = 'held';
  runs = 0;
  #release!: () => void;
  readonly #released = new Promise<void>((resolve) => { this.#release = resolve; });
  constructor(private readonly pathInfos: PathInfoStore, private readonly paths: Map<string, PathInfo>) {}
  release(): void {
    this.#release();
  }
  async substitute(hashPart: string): Promise<boolean> {
    this.runs++;
    await this.#released;
    const info = this.paths.get(hashPart);
    if (info === undefined) return false;
    await this.pathInfos.put(info, { trustedKeys: [key.public] });
    return true;
  }
}

async function settled(server: NixCacheServer): Promise<void> {
  while (server.substituting > 0) await new Promise((r) => setTimeout(r, 10));
}

describe('nix cache substitution', () => {
  const stores: Store[] = [];
  const servers: NixCacheServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    for (const s of stores) await s.cleanup();
  });

  async function cache(substituters: NixSubstituter[]): Promise<NixCacheServer> {
    const store = await tempStore();
    stores.push(store);
    const pathInfos = new PathInfoStore(store.data.layout, { durable: false });
    const server = await NixCacheServer.start({
      blobs: store.data.blobs, directories: store.data.directories, pathInfos, trustedKeys: [key.public], stateDir: store.root, substituters, substituteWait: 50,
    });
    servers.push(server);
    return server;
  }

  it('answers 404 while a substitution is held back, runs it once for every request, and serves the path once it is done', async () => {
    const { hashPart, info } = fakePath();
    const store = await tempStore();
    stores.push(store);
    const pathInfos = new PathInfoStore(store.data.layout, { durable: false });
    const held = new HeldSubstituter(pathInfos, new Map([[hashPart, info]]));
    const server = await NixCacheServer.start({
      blobs: store.data.blobs, directories: store.data.directories, pathInfos, trustedKeys: [key.public], stateDir: store.root,
      substituters: [held], substituteWait: 50,
    });
    servers.push(server);
    const first = await request(server.url, 'GET', `/${hashPart}.narinfo`);
    assert.equal(first.status, 404, 'not answered while the substitution is held');
    assert.equal(server.substituting, 1, 'the substitution goes on after the 404');
    const head = await request(server.url, 'HEAD', `/${hashPart}.narinfo`);
    assert.equal(head.status, 404);
    assert.equal(held.runs, 1, 'a second request joins the running substitution');
    held.release();
    await settled(server);
    const later = await request(server.url, 'GET', `/${hashPart}.narinfo`);
    assert.equal(later.status, 200, later.body.toString());
    assert.match(later.body.toString(), new RegExp(`^StorePath: ${info.storePath}$`, 'mu'));
    assert.equal(held.runs, 1, 'a held path is not substituted again');
  });

  it('tries the substituters in order: one that fails is logged and the next has the path; none having it is a 404', async () => {
    const { hashPart, info } = fakePath();
    const lines: string[] = [];
    const failing: NixSubstituter = { name: 'broken', substitute: () => Promise.reject(new CastorError('BROKEN', 'it broke')) };
    const store = await tempStore();
    stores.push(store);
    const pathInfos = new PathInfoStore(store.data.layout, { durable: false });
    const good = new HeldSubstituter(pathInfos, new Map([[hashPart, info]]));
    good.release();
    const server = await NixCacheServer.start({
      blobs: store.data.blobs, directories: store.data.directories, pathInfos, trustedKeys: [key.public], stateDir: store.root,
      substituters: [failing, good], substituteWait: 60_000, log: (l) => lines.push(l),
    });
    servers.push(server);
    const got = await request(server.url, 'GET', `/${hashPart}.narinfo`);
    assert.equal(got.status, 200, got.body.toString());
    assert.deepEqual(lines, [`nix cache: substituted the path of ${hashPart}`], 'a substituter that failed before one had it is not an error');
    const absent = nix32Encode(randomBytes(20));
    assert.equal((await request(server.url, 'GET', `/${absent}.narinfo`)).status, 404);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, new RegExp(`^nix cache: no substituter could get the path of ${absent}: broken: it broke$`, 'u'));
    const none = await cache([]);
    assert.equal((await request(none.url, 'GET', `/${hashPart}.narinfo`)).status, 404, 'no substituters: not here');
  });
});

describe('nix cache substitutions at once', () => {
  it('past the cap, a request for another path starts nothing and is answered as absent', async () => {
    const { Substitutions } = await import('../../src/node/nix-cache/substituter.js');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const asked: string[] = [];
    const sub: NixSubstituter = { name: 'gated', substitute: async (h) => { asked.push(h); await gate; return true; } };
    const subs = new Substitutions([sub], undefined, 1);
    const first = subs.start('a'.repeat(32));
    assert.equal(await subs.start('b'.repeat(32)), false, 'over the cap: absent at once');
    assert.deepEqual(asked, ['a'.repeat(32)]);
    release();
    assert.equal(await first, true);
    assert.equal(subs.running, 0);
    assert.equal(await subs.start('b'.repeat(32)), true, 'below the cap again');
  });
});
