// The BlobService contract as tests: every implementation registers this same suite with a
// factory for a fresh, empty store (tvix castore's blobservice/tests, abstract-level's suite).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blake3, toHex } from '../../src/verify/blake3/index.js';
import { outboardOf } from '../../src/verify/bao/index.js';
import type { BlobService, Digest, ReadRange } from '../../src/store/blob-service.js';
import { asDigest } from '../../src/store/digest.js';
import { collect, randomBytes } from './blob-data.js';

export { collect, randomBytes } from './blob-data.js';

export interface BlobServiceFixture {
  service: BlobService;
  cleanup?: () => Promise<void>;
}

/** Writes `data` in pieces of the given sizes (cycled), reusing one scratch buffer to prove writes copy. */
export async function put(service: BlobService, data: Uint8Array, pieces: readonly number[] = [65536]): Promise<Digest> {
  const w = service.openWriter();
  const scratch = new Uint8Array(Math.max(...pieces));
  for (let pos = 0, i = 0; pos < data.length; i++) {
    const n = Math.min(pieces[i % pieces.length]!, data.length - pos);
    scratch.set(data.subarray(pos, pos + n));
    await w.write(scratch.subarray(0, n));
    scratch.fill(0xee);
    pos += n;
  }
  return w.close();
}

export async function readAll(service: BlobService, digest: Digest, range?: ReadRange): Promise<Uint8Array> {
  const s = await service.read(digest, range);
  assert.ok(s, `blob ${toHex(digest)} should be readable`);
  return collect(s);
}

function equalBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: contents differ`);
}

/** Checks everything the contract promises about one stored blob. */
export async function checkStored(service: BlobService, digest: Digest, data: Uint8Array): Promise<void> {
  assert.equal(toHex(digest), toHex(blake3(data)), 'digest is the BLAKE3 hash');
  assert.equal(await service.has(digest), true);
  const st = await service.stat(digest);
  assert.ok(st);
  assert.equal(st.size, data.length);
  equalBytes(st.outboard, outboardOf(data, 4).outboard, 'outboard');
  if (st.chunks.length > 0 || data.length === 0) {
    let off = 0;
    for (const c of st.chunks) {
      assert.equal(toHex(c.digest), toHex(blake3(data.subarray(off, off + c.size))), `chunk at ${off}`);
      off += c.size;
    }
    assert.equal(off, data.length, 'chunk sizes sum to the size');
  }
  equalBytes(await readAll(service, digest), data, 'whole read');
}

const absent = asDigest(blake3(new TextEncoder().encode('never stored')));

export function blobServiceSuite(name: string, factory: () => Promise<BlobServiceFixture>): void {
  describe(`BlobService contract: ${name}`, () => {
    const withStore = (title: string, body: (s: BlobService) => Promise<void>): void => {
      it(title, async () => {
        const { service, cleanup } = await factory();
        try { await body(service); } finally { await cleanup?.(); }
      });
    };

    withStore('empty blob', async (s) => {
      const d = await s.openWriter().close();
      await checkStored(s, d, new Uint8Array(0));
      assert.equal(toHex(d), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
      equalBytes(await readAll(s, d, { start: 0, end: 10 }), new Uint8Array(0), 'range of empty');
    });

    withStore('one byte, and empty writes in between', async (s) => {
      const w = s.openWriter();
      await w.write(new Uint8Array(0));
      await w.write(Uint8Array.of(0x61));
      await w.write(new Uint8Array(0));
      await checkStored(s, await w.close(), Uint8Array.of(0x61));
    });

    withStore('sizes around BLAKE3 chunk, group and FastCDC boundaries', async (s) => {
      const sizes = [1023, 1024, 1025, 16383, 16384, 16385, 32769, 65535, 65537, 262143, 262144, 262145, 300_001];
      for (const [i, n] of sizes.entries()) {
        const data = randomBytes(n, 100 + i);
        await checkStored(s, await put(s, data, [1000, 7, 70_000]), data);
      }
    });

    withStore('5 MiB of random data, and a repeat write of it', async (s) => {
      const data = randomBytes(5 << 20, 7);
      const d = await put(s, data, [65536, 1 << 20, 12345]);
      await checkStored(s, d, data);
      assert.equal(toHex(await put(s, data, [5 << 20])), toHex(d));
      await checkStored(s, d, data);
    });

    withStore('range reads, clipped to the size', async (s) => {
      const data = randomBytes(300_000, 3);
      const n = data.length;
      const d = await put(s, data);
      const ranges: [number, number][] = [
        [0, 0], [0, 1], [5, 5], [n - 1, n], [n, n], [n, n + 10], [n + 10, n + 20], [100, 50_000],
        [16383, 16385], [0, 2 * n], [123_456, 123_457], [65_530, 131_080], [0, n], [n - 20_000, n + 1],
      ];
      let x = 9;
      for (let i = 0; i < 20; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        const a = x % (n + 100);
        x = (x * 1103515245 + 12345) % 2147483648;
        ranges.push([a, a + (x % 70_000)]);
      }
      for (const [start, end] of ranges) {
        const got = await readAll(s, d, { start, end });
        equalBytes(got, data.subarray(Math.min(start, n), Math.min(end, n)), `range ${start}..${end}`);
      }
    });

    withStore('malformed ranges are INVALID_INPUT, malformed digests INVALID_DIGEST', async (s) => {
      const d = await put(s, randomBytes(1000));
      for (const range of [{ start: 5, end: 4 }, { start: -1, end: 4 }, { start: 0, end: 1.5 }]) {
        await assert.rejects(s.read(d, range), { code: 'INVALID_INPUT' });
      }
      // Plain JS callers can pass anything; the brand only exists at compile time.
      const bad = (n: number): Digest => new Uint8Array(n) as Digest;
      await assert.rejects(s.has(bad(31)), { code: 'INVALID_DIGEST' });
      await assert.rejects(s.stat(bad(33)), { code: 'INVALID_DIGEST' });
      await assert.rejects(s.read(bad(0)), { code: 'INVALID_DIGEST' });
      const w = s.openWriter();
      await assert.rejects(w.write('text' as unknown as Uint8Array), { code: 'INVALID_INPUT' });
      await w.abort();
    });

    withStore('absent digests: has false, stat and read undefined', async (s) => {
      assert.equal(await s.has(absent), false);
      assert.equal(await s.stat(absent), undefined);
      assert.equal(await s.read(absent), undefined);
      assert.equal(await s.read(absent, { start: 0, end: 1 }), undefined);
    });

    withStore('a blob is invisible until close; abort leaves nothing', async (s) => {
      const data = randomBytes(400_000, 11);
      const d = asDigest(blake3(data));
      const w = s.openWriter();
      await w.write(data);
      assert.equal(await s.has(d), false, 'not visible before close');
      await w.abort();
      await w.abort();
      assert.equal(await s.has(d), false);
      assert.equal(await s.stat(d), undefined);
      assert.equal(await s.read(d), undefined);
      await assert.rejects(w.write(Uint8Array.of(1)), { code: 'WRITER_CLOSED' });
      await assert.rejects(w.close(), { code: 'WRITER_CLOSED' });
    });

    withStore('close twice is WRITER_CLOSED, abort after close keeps the blob', async (s) => {
      const w = s.openWriter();
      await w.write(randomBytes(10));
      const d = await w.close();
      await assert.rejects(w.close(), { code: 'WRITER_CLOSED' });
      await assert.rejects(w.write(Uint8Array.of(1)), { code: 'WRITER_CLOSED' });
      await w.abort();
      assert.equal(await s.has(d), true);
    });

    withStore('two writers interleaved, writes issued without waiting', async (s) => {
      const a = randomBytes(700_000, 21);
      const b = randomBytes(500_000, 22);
      const wa = s.openWriter();
      const wb = s.openWriter();
      const pending: Promise<void>[] = [];
      for (let pos = 0; pos < a.length; pos += 50_000) {
        pending.push(wa.write(a.subarray(pos, pos + 50_000)));
        if (pos < b.length) pending.push(wb.write(b.subarray(pos, pos + 50_000)));
      }
      await Promise.all(pending);
      const [da, db] = await Promise.all([wa.close(), wb.close()]);
      await checkStored(s, da, a);
      await checkStored(s, db, b);
    });

    withStore('writes issued without waiting, then close at once', async (s) => {
      const data = randomBytes(900_000, 23);
      const w = s.openWriter();
      const pending = [0, 300_000, 600_000].map((at) => w.write(data.subarray(at, at + 300_000)));
      const closing = w.close();
      await assert.rejects(w.write(Uint8Array.of(1)), { code: 'WRITER_CLOSED' });
      await Promise.all(pending);
      await checkStored(s, await closing, data);
    });

    withStore('a reader may stop early', async (s) => {
      const data = randomBytes(2 << 20, 5);
      const d = await put(s, data);
      const stream = await s.read(d);
      assert.ok(stream);
      let got = 0;
      for await (const p of stream) {
        got += p.length;
        if (got > 100_000) break;
      }
      equalBytes(await readAll(s, d, { start: 1 << 20, end: (1 << 20) + 10 }), data.subarray(1 << 20, (1 << 20) + 10), 'after break');
    });
  });
}
