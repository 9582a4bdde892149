// importFromCache over an in-memory binary cache and memory stores (no Nix needed): the
// closure in dependency order, trust settled before any NAR is read, a NAR that is not
// its narinfo's stopping the import with only whole paths put, CA paths taken for their
// content address and checked against it.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryBlobService } from '../../../src/store/blobs/index.js';
import { MemoryDirectoryService } from '../../../src/store/directories/index.js';
import {
  type BinaryCache, canonicalContentAddress, caStorePath, formatNarinfo, importFromCache, NarMismatchError, parseContentAddress, type PathInfo, PathNotInCacheError,
  signPathInfo, UntrustedPathError,
} from '../../../src/store/nix/index.js';
import { generateKeyPair, type PublicKey, type SecretKey } from '../../../src/verify/index.js';
import { dir, file, narOf, type NarTree } from './nar-fixture.js';

const path = (c: string, name: string): string => `/nix/store/${c.repeat(32)}-${name}`;
const DEP = path('a', 'dep');
const MID = path('b', 'mid');
const TOP = path('c', 'top');

/** A cache in memory that logs what is asked of it. */
class MemoryCache implements BinaryCache {
  readonly url = 'memory://test';
  readonly log: string[] = [];
  readonly narinfos = new Map<string, string>();
  readonly nars = new Map<string, Uint8Array>();
  async checkInfo(): Promise<void> {}
  async narinfo(hashPart: string): Promise<Uint8Array | undefined> {
    this.log.push(`narinfo ${hashPart.slice(0, 1)}`);
    const text = this.narinfos.get(hashPart);
    return text === undefined ? undefined : new TextEncoder().encode(text);
  }
  async *nar(relative: string): AsyncIterable<Uint8Array> {
    this.log.push(`nar ${relative}`);
    const bytes = this.nars.get(relative);
    if (bytes === undefined) throw new Error(`no ${relative}`);
    yield bytes;
  }
  /** Adds `storePath` with tree `tree` (its NAR), signed by `secret` when given; `narOverride` serves other bytes. */
  add(storePath: string, tree: NarTree, references: string[], options: { secret?: SecretKey; ca?: string; narOverride?: Uint8Array } = {}): void {
    const nar = narOf(tree);
    let info: PathInfo = {
      storePath, narHash: new Uint8Array(createHash('sha256').update(nar).digest()), narSize: nar.length, references, signatures: [],
      ...(options.ca !== undefined && { ca: options.ca }),
    };
    if (options.secret !== undefined) info = signPathInfo(info, options.secret);
    const hashPart = storePath.slice(11, 43);
    const url = `nar/${hashPart}.nar`;
    this.narinfos.set(hashPart, formatNarinfo({ ...info, url, compression: 'none' }));
    this.nars.set(url, options.narOverride ?? nar);
  }
}

function sink(): { infos: Map<string, PathInfo>; order: string[]; has(p: string): Promise<boolean>; put(i: PathInfo): Promise<void> } {
  const infos = new Map<string, PathInfo>();
  const order: string[] = [];
  return {
    infos, order,
    has: async (p) => infos.has(p),
    put: async (i) => { infos.set(i.storePath, i); order.push(i.storePath); },
  };
}

function setUp(): { cache: MemoryCache; secret: SecretKey; publicKey: PublicKey } {
  const { secret: secretKey, public: publicKey } = generateKeyPair('cache-1');
  const cache = new MemoryCache();
  cache.add(DEP, file('dep'), [], { secret: secretKey });
  cache.add(MID, dir({ 'ref': file(DEP), 'bin': dir({ 'run': file('#!/bin/sh\n', true) }) }), [DEP, MID], { secret: secretKey });
  cache.add(TOP, dir({ 'ref': file(MID) }), [MID], { secret: secretKey });
  return { cache, secret: secretKey, publicKey };
}

const stores = (): { blobs: MemoryBlobService; directories: MemoryDirectoryService } => ({ blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });

describe('importFromCache', () => {
  it('imports the closure dependencies first, every narinfo read before any NAR, PathInfos after the sync', async () => {
    const { cache, publicKey } = setUp();
    const paths = sink();
    let synced = false;
    const r = await importFromCache(cache, [TOP], {
      ...stores(), pathInfos: { has: paths.has, put: async (i) => { assert.ok(synced, 'sync before put'); await paths.put(i); } },
      trustedKeys: [publicKey], checkSigs: true, sync: async () => { synced = true; },
    });
    assert.deepEqual(r.imported.map((i) => i.storePath), [DEP, MID, TOP]);
    assert.deepEqual(paths.order, [DEP, MID, TOP]);
    const firstNar = cache.log.findIndex((l) => l.startsWith('nar '));
    assert.deepEqual(cache.log.slice(0, firstNar).sort(), ['narinfo a', 'narinfo b', 'narinfo c']);
    assert.deepEqual(paths.infos.get(MID)!.references, [DEP, MID]);
    assert.equal(paths.infos.get(MID)!.signatures.length, 1);
  });

  it('walks no further than a path already held', async () => {
    const { cache, publicKey } = setUp();
    const paths = sink();
    await paths.put({ storePath: MID, narHash: new Uint8Array(32), narSize: 1, references: [], signatures: [] });
    const r = await importFromCache(cache, [TOP], { ...stores(), pathInfos: paths, trustedKeys: [publicKey], checkSigs: true });
    assert.deepEqual(r.imported.map((i) => i.storePath), [TOP]);
    assert.deepEqual(r.present, [MID]);
    assert.ok(!cache.log.includes('narinfo a'));
  });

  it('refuses an untrusted closure before reading any NAR; --no-check-sigs takes it', async () => {
    const { cache } = setUp();
    const other = generateKeyPair('other-1').public;
    const paths = sink();
    await assert.rejects(importFromCache(cache, [TOP], { ...stores(), pathInfos: paths, trustedKeys: [other], checkSigs: true }), UntrustedPathError);
    assert.equal(cache.log.filter((l) => l.startsWith('nar ')).length, 0);
    assert.equal(paths.infos.size, 0);
    const r = await importFromCache(cache, [TOP], { ...stores(), pathInfos: paths, trustedKeys: [], checkSigs: false });
    assert.equal(r.imported.length, 3);
  });

  it('stops at a NAR that is not its narinfo\'s: the whole paths before it are put, it and those after are not', async () => {
    const { cache, secret, publicKey } = setUp();
    cache.add(MID, dir({ 'ref': file(DEP) }), [DEP], { secret, narOverride: narOf(dir({ 'ref': file(TOP) })) });
    const paths = sink();
    await assert.rejects(importFromCache(cache, [TOP], { ...stores(), pathInfos: paths, trustedKeys: [publicKey], checkSigs: true }),
      (e: unknown) => e instanceof NarMismatchError && /mid: the NAR does not match its NarHash/u.test(e.message));
    assert.deepEqual(paths.order, [DEP]);
    assert.ok(!cache.log.includes(`nar nar/${'c'.repeat(32)}.nar`), 'nothing after the failure is read');
  });

  it('refuses a narinfo filed under another path, and a path the cache lacks', async () => {
    const { cache, publicKey } = setUp();
    cache.narinfos.set('d'.repeat(32), cache.narinfos.get('c'.repeat(32))!);
    const opts = { ...stores(), pathInfos: sink(), trustedKeys: [publicKey], checkSigs: true };
    await assert.rejects(importFromCache(cache, [path('d', 'top')], opts), PathNotInCacheError);
    await assert.rejects(importFromCache(cache, [path('f', 'none')], opts), /not in the cache memory:\/\/test/u);
  });

  it('takes an unsigned content-addressed path whose CA gives its store path, and checks its content', async () => {
    const text = 'hello\n';
    const ca = `text:sha256:${createHash('sha256').update(text).digest('hex')}`;
    const storePath = caStorePath('greeting', parseContentAddress(ca), []);
    const cache = new MemoryCache();
    cache.add(storePath, file(text), [], { ca });
    const paths = sink();
    const r = await importFromCache(cache, [storePath], { ...stores(), pathInfos: paths, trustedKeys: [], checkSigs: true });
    assert.equal(r.imported[0]!.ca, canonicalContentAddress(ca));
    assert.ok(paths.infos.has(storePath));
    // Same claim, other content (its narHash consistent with what is served): refused on the CA.
    const liar = new MemoryCache();
    liar.add(storePath, file('goodbye\n'), [], { ca });
    await assert.rejects(importFromCache(liar, [storePath], { ...stores(), pathInfos: sink(), trustedKeys: [], checkSigs: true }),
      (e: unknown) => e instanceof NarMismatchError && /does not match its CA/u.test(e.message));
    // A CA that does not give the path is no trust at all.
    const wrongName = new MemoryCache();
    wrongName.add(path('g', 'greeting'), file(text), [], { ca });
    await assert.rejects(importFromCache(wrongName, [path('g', 'greeting')], { ...stores(), pathInfos: sink(), trustedKeys: [], checkSigs: true }), UntrustedPathError);
  });
});
