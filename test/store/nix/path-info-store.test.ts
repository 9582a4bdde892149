// The PathInfo store: round trips, signature and closure refusals, delete and closure
// order, crash safety (a writer SIGKILLed mid-put leaves a whole record), and gc keeping
// a path's tree until its PathInfo is deleted.

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeNode, encodeNode } from '../../../src/store/castore/index.js';
import { asDigest, formatDigest } from '../../../src/store/digest.js';
import { gc } from '../../../src/store/maintenance/index.js';
import {
  ingestNar, type PathInfo, PathInfoStore, signPathInfo,
} from '../../../src/store/nix/index.js';
import { generateKeyPair, nix32Encode, publicKeyOf } from '../../../src/verify/index.js';
import { tempStore, type Store } from '../store-fixture.js';
import { chunked, dir, file, link, narOf, type NarTree, pseudoRandom } from './nar-fixture.js';

const key = generateKeyPair('castor-test-1').secret;
const trusted = [publicKeyOf(key)];
const stranger = generateKeyPair('castor-test-1').secret; // same name, other key

function storePathOf(name: string, seed: number): string {
  const h = new Uint8Array(20).fill(seed);
  return `/nix/store/${nix32Encode(h)}-${name}`;
}

/** Byte fields as hex, whatever array type carries them (records decode to Buffers). */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

function same(actual: unknown, expected: unknown, message?: string): void {
  assert.deepEqual(plain(actual), plain(expected), message);
}

async function expectCode(p: Promise<unknown>, code: string, value?: unknown): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: string }).code, code, String(err));
    if (value !== undefined) assert.equal((err as { value?: unknown }).value, value);
    return true;
  });
}

describe('PathInfoStore', () => {
  let s: Store;
  let paths: PathInfoStore;

  beforeEach(async () => {
    s = await tempStore();
    paths = new PathInfoStore(s.data.layout, { durable: false });
  });
  afterEach(async () => { await s.cleanup(); });

  /** Ingests `tree` and returns a signed PathInfo for it. */
  async function make(name: string, seed: number, tree: NarTree, references: string[] = [], extra: Partial<PathInfo> = {}): Promise<PathInfo> {
    const r = await ingestNar(chunked(narOf(tree)), s.data);
    // As a record holds them: plain Uint8Arrays, not the Buffers ingest hands out.
    const node = decodeNode(encodeNode(r.node), { anonymous: true });
    const info: PathInfo = { storePath: storePathOf(name, seed), node, narHash: new Uint8Array(r.narHash), narSize: r.narSize, references, signatures: [], ...extra };
    return extra.ca !== undefined ? info : signPathInfo(info, key);
  }

  it('stores, finds by store path or hash part, lists and survives a new instance', async () => {
    const a = await make('a', 1, dir({ bin: dir({ hello: file('#!/bin/sh\n', true) }), 'lib.so': link('bin/hello'), empty: file('') }));
    const stored = await paths.put(a, { trustedKeys: trusted });
    same(stored, a);
    const hashPart = a.storePath.slice(11, 43);
    same(await paths.get(a.storePath), a);
    same(await paths.get(hashPart), a);
    assert.equal(await paths.get(`${a.storePath}x`), undefined, 'same hash part, other name');
    assert.equal(await paths.get(storePathOf('a', 2)), undefined);
    assert.ok(await paths.has(a.storePath));
    same(await new PathInfoStore(s.data.layout).list(), [a]);
    assert.deepEqual(await readdir(path.join(s.root, 'nix', 'path-info')), [hashPart]);
    await expectCode(paths.get('not-a-hash'), 'INVALID_STORE_PATH');
  });

  it('refuses a path not signed by a trusted key, unless content-addressed or told not to check', async () => {
    const unsigned = { ...(await make('u', 1, file('u'))), signatures: [] };
    await expectCode(paths.put(unsigned, { trustedKeys: trusted }), 'NIX_SIGNATURE', unsigned.storePath);
    const foreign = signPathInfo(unsigned, stranger);
    await expectCode(paths.put(foreign, { trustedKeys: trusted }), 'NIX_SIGNATURE', unsigned.storePath);
    const tampered = { ...signPathInfo(unsigned, key), narSize: unsigned.narSize + 1 };
    await expectCode(paths.put(tampered, { trustedKeys: trusted }), 'NIX_SIGNATURE', unsigned.storePath);
    assert.equal(await paths.has(unsigned.storePath), false);
    const ca = await make('ca', 2, file('ca'), [], { ca: `fixed:r:sha256:${nix32Encode(new Uint8Array(32).fill(3))}` });
    await paths.put(ca, { trustedKeys: [] });
    await paths.put(unsigned, { noCheckSigs: true });
    assert.deepEqual((await paths.list()).map((i) => i.storePath).sort(), [ca.storePath, unsigned.storePath].sort());
  });

  it('is closed under references: a path comes in only after what it references', async () => {
    const a = await make('a', 1, file('a'));
    const b = await make('b', 2, file('b'), [a.storePath, storePathOf('b', 2)]); // b refers to itself too
    await expectCode(paths.put(b, { trustedKeys: trusted }), 'NIX_MISSING_REFERENCE', a.storePath);
    assert.equal(await paths.has(b.storePath), false);
    await paths.put(a, { trustedKeys: trusted });
    await paths.put(b, { trustedKeys: trusted });
    assert.deepEqual((await paths.get(b.storePath))!.references, [a.storePath, b.storePath].sort());
  });

  it('refuses to delete a path another references, and orders closures dependencies first', async () => {
    const a = await make('a', 1, file('a'));
    const b = await make('b', 2, file('b'), [a.storePath]);
    const c = await make('c', 3, file('c'), [b.storePath, storePathOf('c', 3)]);
    const d = await make('d', 4, file('d'), [a.storePath]);
    for (const p of [a, b, c, d]) await paths.put(p, { trustedKeys: trusted });
    assert.deepEqual((await paths.closure([c.storePath, d.storePath])).map((i) => i.storePath), [a, b, c, d].map((i) => i.storePath));
    assert.deepEqual((await paths.closure([b.storePath])).map((i) => i.storePath), [a.storePath, b.storePath]);
    await expectCode(paths.closure([storePathOf('zz', 9)]), 'NIX_MISSING_REFERENCE', storePathOf('zz', 9));
    await expectCode(paths.delete(a.storePath), 'NIX_PATH_IN_USE', a.storePath);
    await expectCode(paths.delete(b.storePath), 'NIX_PATH_IN_USE', b.storePath);
    assert.equal(await paths.delete(c.storePath), true, 'a self-reference does not keep a path');
    assert.equal(await paths.delete(c.storePath), false);
    await paths.delete(d.storePath);
    await paths.delete(b.storePath);
    await paths.delete(a.storePath);
    assert.deepEqual(await paths.list(), []);
  });

  it('merges signatures of the same path and refuses another NAR under its name', async () => {
    const a = await make('a', 1, file('a'));
    await paths.put(a, { trustedKeys: trusted });
    const other = generateKeyPair('other-1').secret;
    const both = await paths.put(signPathInfo({ ...a, signatures: [] }, other), { trustedKeys: [publicKeyOf(other)] });
    assert.equal(both.signatures.length, 2);
    assert.equal((await paths.get(a.storePath))!.signatures.length, 2);
    const b = await make('a', 1, file('not a'));
    await expectCode(paths.put(b, { trustedKeys: trusted }), 'NIX_PATH_CONFLICT', a.storePath);
  });

  it('refuses a path whose root is not in the store, when asked to check', async () => {
    const checked = new PathInfoStore(s.data.layout, {
      durable: false,
      hasRoot: async (digest, kind) => (kind === 'directory' ? (await s.data.directories.get(digest)) !== undefined : s.data.blobs.has(digest)),
    });
    const a = await make('a', 1, dir({ x: file('x') }));
    await checked.put(a, { trustedKeys: trusted });
    const ghost = signPathInfo({ ...a, storePath: storePathOf('ghost', 5), signatures: [], node: { directory: { name: new Uint8Array(0), digest: new Uint8Array(32).fill(1), size: 1n } } }, key);
    await expectCode(checked.put(ghost, { trustedKeys: trusted }), 'NIX_MISSING_ROOT', ghost.storePath);
  });

  it('ignores what a killed writer left in tmp/, and refuses a damaged record by name', async () => {
    const a = await make('a', 1, file('a'));
    await paths.put(a, { trustedKeys: trusted });
    // A writer killed before its rename leaves only a temp file: the old record stands.
    await writeFile(s.data.layout.newTempPath('path-info-'), new Uint8Array([1, 2, 3]));
    same(await paths.get(a.storePath), a);
    const hashPart = a.storePath.slice(11, 43);
    const record = path.join(s.root, 'nix', 'path-info', hashPart);
    const bytes = await readFile(record);
    await writeFile(record, bytes.subarray(0, bytes.length - 3));
    await expectCode(paths.get(a.storePath), 'CORRUPT_PATH_INFO', record);
  });

  it('leaves a whole record when a writer is SIGKILLed in the middle of its puts', async () => {
    const r = await ingestNar(chunked(narOf(dir({ f: file(pseudoRandom(5000, 7)) }))), s.data);
    const node = (r.node as { directory: { digest: Uint8Array; size: bigint } }).directory;
    const storePath = storePathOf('crash', 7);
    const child = spawn(process.execPath, [fileURLToPath(new URL('./path-info-child.js', import.meta.url)), s.root,
      JSON.stringify({ storePath, narHash: Buffer.from(r.narHash).toString('hex'), narSize: r.narSize, node: { digest: formatDigest(asDigest(node.digest)), size: String(node.size) } })],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    let done = 0;
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        done = Math.max(done, ...text.trim().split('\n').map(Number));
        // Kill it while it is putting: after some puts, with more under way.
        if (done >= 20) { child.removeAllListeners('exit'); child.kill('SIGKILL'); resolve(); }
      });
    });
    await new Promise((resolve) => child.once('exit', resolve));
    const info = await new PathInfoStore(s.data.layout).get(storePath);
    assert.ok(info !== undefined, 'the record is there and reads whole');
    assert.ok(info.signatures.length >= done, `${info.signatures.length} signatures, ${done} puts had returned`);
    assert.deepEqual((await new PathInfoStore(s.data.layout).list()).map((i) => i.storePath), [storePath]);
  });

  it('keeps a path\'s tree through gc, and lets gc reclaim it once the PathInfo is deleted', async () => {
    const big = pseudoRandom(200_000, 11);
    const a = await make('a', 1, dir({ data: file(big), sub: dir({ x: file('only here') }) }));
    await paths.put(a, { trustedKeys: trusted });
    const root = asDigest((a.node as { directory: { digest: Uint8Array } }).directory.digest);
    const rootDir = (await s.data.directories.get(root))!;
    const blob = asDigest(rootDir.files.find((f) => new TextDecoder().decode(f.name) === 'data')!.digest);
    const first = await gc(s.data, { graceMs: 0 });
    assert.ok(first.roots >= 1);
    assert.ok((await s.data.directories.get(root)) !== undefined, 'root Directory kept');
    assert.ok(await s.data.blobs.has(blob), 'file blob kept');
    await paths.delete(a.storePath);
    const second = await gc(s.data, { graceMs: 0 });
    assert.ok(second.removed.dirs >= 2, `removed ${JSON.stringify(second.removed)}`);
    assert.equal(await s.data.directories.get(root), undefined, 'root Directory reclaimed');
    assert.equal(await s.data.blobs.has(blob), false, 'file blob reclaimed');
  });
});
