// The binary cache's parts on their own: addresses, loopback, NAR file names, transfer
// slots, pending uploads' expiry, and the on-the-fly compressions decoding back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isLoopback, parseHttpAddress, parseNarFileName, readHttpConfig, servedNarUrl } from '../../src/node/nix-cache/index.js';
import { compressNar } from '../../src/node/nix-cache/compress-nar.js';
import { PendingUploads } from '../../src/node/nix-cache/pending-uploads.js';
import { routeOf } from '../../src/node/nix-cache/routes.js';
import { TransferSlots } from '../../src/node/nix-cache/transfer-slots.js';
import { decompress, type Node } from '../../src/store/index.js';
import { nix32Encode } from '../../src/verify/index.js';

test('parseHttpAddress: HOST:PORT, [IPv6]:PORT, :PORT; anything else refused', () => {
  assert.deepEqual(parseHttpAddress('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseHttpAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHttpAddress(':8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHttpAddress('localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['127.0.0.1', '127.0.0.1:65536', 'example.org:80', '[127.0.0.1]:80', '::1:80', '1.2.3.4:x', 5000]) {
    assert.throws(() => parseHttpAddress(bad), { code: 'INVALID_HTTP_ADDRESS' }, String(bad));
  }
});

test('isLoopback: 127/8, ::1 and mapped 127/8 only', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '::', '0.0.0.0', '128.0.0.1', undefined]) assert.equal(isLoopback(a), false, String(a));
});

test('NAR file names: served and uploaded forms, every compression, nothing else', () => {
  const h = new Uint8Array(32).map((_, i) => i * 7);
  const hashPart = '0123456789abcdfghijklmnpqrsvwxyz';
  const served = servedNarUrl(hashPart, h);
  assert.equal(served, `nar/${hashPart}-${nix32Encode(h)}.nar`);
  const parsed = parseNarFileName(served.slice(4));
  assert.equal(parsed?.kind, 'served');
  assert.deepEqual(parsed?.kind === 'served' && [parsed.hashPart, Buffer.from(parsed.narHash).equals(h)], [hashPart, true]);
  for (const [ext, c] of [['', 'none'], ['.xz', 'xz'], ['.zst', 'zstd'], ['.bz2', 'bzip2'], ['.br', 'br']] as const) {
    const f = parseNarFileName(`${nix32Encode(h)}.nar${ext}`);
    assert.deepEqual(f?.kind === 'uploaded' && [f.compression, Buffer.from(f.fileHash).equals(h)], [c, true]);
  }
  for (const bad of [`${nix32Encode(h)}.nar.gz`, `${nix32Encode(h)}.narinfo`, `${nix32Encode(h).slice(1)}e.nar`, `../${nix32Encode(h)}.nar`, `${hashPart}-${nix32Encode(h)}.nar.xz`, '']) {
    assert.equal(parseNarFileName(bad), undefined, bad);
  }
  assert.throws(() => routeOf('/nar/%2e%2e/x'), { code: 'BAD_PATH' });
  assert.deepEqual(routeOf(`/${hashPart}.narinfo?x=1`), { kind: 'narinfo', hashPart });
});

test('TransferSlots: at most maxActive, waiters in order, an aborted waiter leaves the queue', async () => {
  const slots = new TransferSlots(2, 1);
  const a = await slots.acquire();
  const b = await slots.acquire();
  const order: string[] = [];
  const c = slots.acquire().then((r) => { order.push('c'); return r; });
  const gone = new AbortController();
  const d = slots.acquire(gone.signal);
  assert.equal(slots.full, true);
  gone.abort(new Error('client left'));
  await assert.rejects(d, /client left/u);
  a();
  a(); // a second release of the same slot is ignored
  const rc = await c;
  assert.deepEqual([order, slots.active, slots.waiting], [['c'], 2, 0]);
  b();
  rc();
  assert.equal(slots.active, 0);
});

test('PendingUploads: forgotten after the TTL, the oldest first past the cap', () => {
  let now = 0;
  const p = new PendingUploads(1000, 2, () => now);
  const nar = { node: { symlink: { name: new Uint8Array(0), target: new Uint8Array([0x61]) } } as Node, narHash: new Uint8Array(32), narSize: 1, fileHash: new Uint8Array(32), fileSize: 1 };
  p.set('a', nar);
  now = 500;
  p.set('b', nar);
  p.set('c', nar);
  assert.deepEqual([p.get('a'), p.get('b') !== undefined, p.get('c') !== undefined], [undefined, true, true]);
  now = 1500;
  assert.equal(p.get('b'), undefined);
  assert.equal(p.size, 0);
});

test('compressNar: xz, zstd (raw blocks) and br decode back to the NAR with castor\'s own decoders', async () => {
  const nar = new Uint8Array(700_000).map((_, i) => (i * 31) % 251);
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < nar.length; at += 100_003) yield nar.subarray(at, Math.min(nar.length, at + 100_003));
  }
  for (const c of ['none', 'xz', 'zstd', 'br'] as const) {
    const parts: Uint8Array[] = [];
    for await (const p of decompress(c, compressNar(c, pieces()))) parts.push(p);
    assert.ok(Buffer.concat(parts).equals(nar), c);
  }
  const empty: Uint8Array[] = [];
  for await (const p of decompress('zstd', compressNar('zstd', (async function* () {})()))) empty.push(p);
  assert.equal(Buffer.concat(empty).length, 0);
});

test('readHttpConfig: "http" and "httpRemoteUploads" from config.json, malformed ones refused, absent file none', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-http-config-'));
  try {
    const file = path.join(dir, 'config.json');
    assert.deepEqual(await readHttpConfig(file), {});
    await writeFile(file, JSON.stringify({ trustedKeys: [], http: '127.0.0.1:0', httpRemoteUploads: true }));
    assert.deepEqual(await readHttpConfig(file), { http: '127.0.0.1:0', remoteUploads: true });
    for (const bad of [{ http: 'nowhere' }, { http: 5000 }, { httpRemoteUploads: 'yes' }]) {
      await writeFile(file, JSON.stringify(bad));
      await assert.rejects(readHttpConfig(file), { code: 'INVALID_CONFIG' }, JSON.stringify(bad));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
