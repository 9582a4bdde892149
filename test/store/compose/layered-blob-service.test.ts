// LayeredBlobService: the BlobService contract (written to the local tier, and written
// below it so every read comes through a lower tier), then read-through, write-through
// and what happens when a lower tier lies, fails or the caller stops early.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blake3, toHex } from '../../../src/verify/blake3/index.js';
import type { BlobService, BlobStat, BlobWriter, Digest, ReadRange } from '../../../src/store/blob-service.js';
import { asDigest } from '../../../src/store/digest.js';
import { FsBlobService } from '../../../src/store/disk/fs-blob-service.js';
import { LayeredBlobService, type LayeredBlobServiceOptions } from '../../../src/store/compose/layered-blob-service.js';
import { MemoryBlobService } from '../../../src/store/blobs/memory-blob-service.js';
import { TierHashMismatchError } from '../../../src/store/compose/tier-errors.js';
import { blobServiceSuite, collect, put, randomBytes, readAll } from '../blob-service-suite.js';

/** Reads through `layered`, writes into `below`: the contract, with every first read from a lower tier. */
function writtenBelow(layered: LayeredBlobService, below: BlobService): BlobService {
  return {
    has: (d) => layered.has(d),
    stat: (d) => layered.stat(d),
    read: (d, r) => layered.read(d, r),
    openWriter: () => below.openWriter(),
  };
}

blobServiceSuite('LayeredBlobService (memory over two memory tiers)', async () => ({
  service: new LayeredBlobService(new MemoryBlobService(), [new MemoryBlobService(), new MemoryBlobService()]),
}));

blobServiceSuite('LayeredBlobService, blobs written to the lower tier', async () => {
  const lower = new MemoryBlobService();
  return { service: writtenBelow(new LayeredBlobService(new MemoryBlobService(), [new MemoryBlobService(), lower]), lower) };
});

blobServiceSuite('LayeredBlobService, blobs written to the lower tier, ranges never fetched whole', async () => {
  const lower = new MemoryBlobService();
  return { service: writtenBelow(new LayeredBlobService(new MemoryBlobService(), [lower], { wholeFetchLimit: 0 }), lower) };
});

blobServiceSuite('LayeredBlobService, disk over disk, blobs written to the lower tier', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-layered-'));
  const local = await FsBlobService.open(await mkdirIn(dir, 'local'), { durable: false });
  const lower = await FsBlobService.open(await mkdirIn(dir, 'lower'), { durable: false });
  return {
    service: writtenBelow(new LayeredBlobService(local, [lower]), lower),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function mkdirIn(dir: string, name: string): Promise<string> {
  const p = path.join(dir, name);
  await mkdir(p);
  return p;
}

/** Counts the calls made to a store, and can be told to lie or fail. */
class Tier implements BlobService {
  calls = { has: 0, stat: 0, read: 0, openWriter: 0 };
  ranges: (ReadRange | undefined)[] = [];
  /** Bytes to send instead of the stored ones, per digest hex. */
  readonly swapData = new Map<string, Uint8Array>();
  /** Stat to answer instead, per digest hex. */
  readonly swapStat = new Map<string, BlobStat>();
  /** Throw after this many bytes of any read. */
  failAfter: number | undefined;

  constructor(readonly inner: BlobService = new MemoryBlobService()) {}

  async has(d: Digest): Promise<boolean> { this.calls.has++; return this.inner.has(d); }

  async stat(d: Digest): Promise<BlobStat | undefined> {
    this.calls.stat++;
    return this.swapStat.get(toHex(d)) ?? this.inner.stat(d);
  }

  async read(d: Digest, r?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined> {
    this.calls.read++;
    this.ranges.push(r);
    const swapped = this.swapData.get(toHex(d));
    if (swapped) return (async function* () { yield swapped.subarray(r?.start ?? 0, r?.end ?? swapped.length); })();
    const s = await this.inner.read(d, r);
    if (!s || this.failAfter === undefined) return s;
    const limit = this.failAfter;
    return (async function* () {
      let n = 0;
      for await (const b of s) {
        if (n + b.length > limit) throw new Error('lower tier went away');
        n += b.length;
        yield b;
      }
    })();
  }

  openWriter(): BlobWriter { this.calls.openWriter++; return this.inner.openWriter(); }
}

function setup(lowers = 1, options?: LayeredBlobServiceOptions): { local: Tier; lowers: Tier[]; layered: LayeredBlobService } {
  const local = new Tier();
  const tiers = Array.from({ length: lowers }, () => new Tier());
  return { local, lowers: tiers, layered: new LayeredBlobService(local, tiers, options) };
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Reads until the stream throws; returns what was yielded and the error. */
async function readUntilError(s: AsyncIterable<Uint8Array>): Promise<{ got: number; err: unknown }> {
  let got = 0;
  try {
    for await (const b of s) got += b.length;
  } catch (err: unknown) {
    return { got, err };
  }
  return { got, err: undefined };
}

describe('LayeredBlobService', () => {
  it('reads through from the first lower tier that has the blob, writes it to the local tier; the next read is local', async () => {
    const { local, lowers: [a, b], layered } = setup(2);
    const data = randomBytes(3 << 20, 1);
    const d = await put(b!.inner, data);
    assert.equal(await layered.has(d), true);
    assert.equal((await layered.stat(d))?.size, data.length);
    assert.equal(await local.inner.has(d), false);
    assert.ok(same(await readAll(layered, d), data));
    assert.equal(await local.inner.has(d), true, 'written through');
    assert.equal(a!.calls.read, 0, 'a tier without the blob is not read');
    const before = { ...b!.calls };
    assert.ok(same(await readAll(layered, d), data));
    assert.ok(same(await readAll(layered, d, { start: 100, end: 200_000 }), data.subarray(100, 200_000)));
    assert.equal(await layered.has(d), true);
    await layered.stat(d);
    assert.deepEqual(b!.calls, before, 'the lower tier is not touched again');
    assert.equal(a!.calls.stat, 2, 'asked by the first stat and the first read only');
  });

  it('the first lower tier that has the blob wins', async () => {
    const { lowers: [a, b], layered } = setup(2);
    const data = randomBytes(1000, 2);
    const d = await put(a!.inner, data);
    await put(b!.inner, data);
    assert.ok(same(await readAll(layered, d), data));
    assert.equal(b!.calls.read, 0);
    assert.equal(b!.calls.stat, 0);
  });

  it('absent everywhere: has false, stat and read undefined, every tier asked once', async () => {
    const { local, lowers, layered } = setup(2);
    const d = asDigest(blake3(Uint8Array.of(1, 2, 3)));
    assert.equal(await layered.has(d), false);
    assert.equal(await layered.stat(d), undefined);
    assert.equal(await layered.read(d), undefined);
    assert.equal(await layered.read(d, { start: 0, end: 5 }), undefined);
    for (const t of [local, ...lowers]) assert.equal(t.calls.has, 1);
    assert.equal(local.calls.openWriter, 0);
  });

  it('openWriter writes to the local tier only', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const d = await put(layered, randomBytes(5000, 3));
    assert.equal(await local.inner.has(d), true);
    assert.equal(await a!.inner.has(d), false);
  });

  it('a stream the caller never iterates opens no local writer', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const d = await put(a!.inner, randomBytes(5000, 4));
    assert.ok(await layered.read(d));
    assert.equal(local.calls.openWriter, 0);
  });

  it('a lower tier that sends other bytes is refused before any byte reaches the caller; nothing is written locally', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(200_000, 5);
    const other = randomBytes(200_000, 6);
    const d = await put(a!.inner, data);
    a!.swapData.set(toHex(d), other);
    for (const range of [undefined, { start: 0, end: 10 }]) {
      const s = await layered.read(d, range);
      assert.ok(s);
      const { got, err } = await readUntilError(s);
      assert.equal(got, 0, 'no unverified byte yielded');
      assert.ok(err instanceof TierHashMismatchError, String(err));
      assert.equal(err.code, 'HASH_MISMATCH');
      assert.equal(err.tier, 'lower tier 1');
      assert.equal(err.value, toHex(d));
      assert.match(err.message, new RegExp(toHex(d)));
    }
    assert.equal(await local.inner.has(d), false);
    assert.equal(await local.inner.has(asDigest(blake3(other))), false, 'not even under the bytes\' own digest');
  });

  it('one flipped byte deep in the blob: the good groups before it are yielded, then HASH_MISMATCH naming the offset', async () => {
    const { local, lowers: [a], layered } = setup(1, { names: ['fs:///here', 'p2p://peer'] });
    const data = randomBytes(300_000, 7);
    const d = await put(a!.inner, data);
    const bad = data.slice();
    bad[250_000]! ^= 1;
    a!.swapData.set(toHex(d), bad);
    const { got, err } = await readUntilError((await layered.read(d))!);
    assert.ok(err instanceof TierHashMismatchError);
    assert.equal(err.tier, 'p2p://peer');
    assert.equal(err.offset, 245_760, 'the 16 KiB group holding the bad byte');
    assert.ok(got <= 245_760);
    assert.equal(await local.inner.has(d), false);
  });

  it('a lower tier whose stat carries another blob\'s outboard is refused', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(100_000, 8);
    const d = await put(a!.inner, data);
    const e = await put(a!.inner, randomBytes(100_000, 9));
    a!.swapStat.set(toHex(d), (await a!.inner.stat(e))!);
    const { got, err } = await readUntilError((await layered.read(d))!);
    assert.equal(got, 0);
    assert.equal((err as { code?: unknown }).code, 'HASH_MISMATCH');
    assert.equal(await local.inner.has(d), false);
  });

  it('a lower tier that fails mid-stream: the error reaches the caller, the local write is aborted', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(2 << 20, 10);
    const d = await put(a!.inner, data);
    a!.failAfter = 1 << 20;
    const { err } = await readUntilError((await layered.read(d))!);
    assert.match(String(err), /lower tier went away/);
    assert.equal(await local.inner.has(d), false);
    a!.failAfter = undefined;
    assert.ok(same(await readAll(layered, d), data), 'a later read succeeds and stores it');
    assert.equal(await local.inner.has(d), true);
  });

  it('a caller that stops early leaves nothing in the local tier, and stops the lower tier\'s stream', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(3 << 20, 11);
    const d = await put(a!.inner, data);
    let finished = false;
    const inner = a!.inner;
    const tracking: BlobService = {
      has: (x) => inner.has(x), stat: (x) => inner.stat(x), openWriter: () => inner.openWriter(),
      read: async (x, r) => {
        const s = await inner.read(x, r);
        return s && (async function* () { try { yield* s; } finally { finished = true; } })();
      },
    };
    const layered2 = new LayeredBlobService(local, [tracking]);
    for (const l of [layered, layered2]) {
      const s = await l.read(d);
      let got = 0;
      for await (const b of s!) {
        got += b.length;
        if (got > 100_000) break;
      }
    }
    assert.equal(finished, true, 'lower stream returned');
    assert.equal(await local.inner.has(d), false);
  });

  it('a range read of a large blob that is not local: right, verified bytes from only the groups under it; nothing stored', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(5 << 20, 12);
    const d = await put(a!.inner, data);
    const n = data.length;
    const ranges: [number, number][] = [[0, 0], [0, 1], [16_383, 16_385], [1_000_000, 1_100_000], [n - 1, n], [n, n + 5], [n + 100, n + 200], [0, n]];
    for (const [start, end] of ranges) {
      a!.ranges = [];
      const got = await readAll(layered, d, { start, end });
      assert.ok(same(got, data.subarray(Math.min(start, n), Math.min(end, n))), `${start}..${end}`);
      const asked = a!.ranges[0]!;
      assert.ok(asked && asked.start % 16384 === 0 && asked.end - asked.start <= Math.max(end - start, 1) + 2 * 16384, `asked ${JSON.stringify(asked)}`);
    }
    assert.equal(await local.inner.has(d), false, 'a partial blob is not written through');
  });

  it('a range read of a small blob that is not local fetches it whole and stores it', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(500_000, 13);
    const d = await put(a!.inner, data);
    assert.ok(same(await readAll(layered, d, { start: 1000, end: 2000 }), data.subarray(1000, 2000)));
    assert.equal(a!.ranges[0], undefined, 'asked for the whole blob');
    assert.equal(await local.inner.has(d), true);
    const reads = a!.calls.read;
    assert.ok(same(await readAll(layered, d, { start: 400_000, end: 600_000 }), data.subarray(400_000)));
    assert.equal(a!.calls.read, reads);
  });

  it('a range read of a small blob stopped early stores nothing', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const data = randomBytes(500_000, 14);
    const d = await put(a!.inner, data);
    const s = await layered.read(d, { start: 0, end: 400_000 });
    for await (const b of s!) { assert.ok(b.length > 0); break; }
    assert.equal(await local.inner.has(d), false);
  });

  it('a local tier that stores something else under the read is reported against the local tier', async () => {
    const lower = new MemoryBlobService();
    const data = randomBytes(50_000, 15);
    const d = await put(lower, data);
    const real = new MemoryBlobService();
    const wrongLocal: BlobService = {
      has: (x) => real.has(x), stat: (x) => real.stat(x), read: (x, r) => real.read(x, r),
      openWriter: () => {
        const w = real.openWriter();
        return { write: (b) => w.write(b), abort: () => w.abort(), close: async () => { await w.write(Uint8Array.of(0)); return w.close(); } };
      },
    };
    const layered = new LayeredBlobService(wrongLocal, [lower]);
    const { err } = await readUntilError((await layered.read(d))!);
    assert.ok(err instanceof TierHashMismatchError);
    assert.equal(err.tier, 'local tier');
  });

  it('a local write that fails fails the read and aborts', async () => {
    const lower = new MemoryBlobService();
    const data = randomBytes(50_000, 16);
    const d = await put(lower, data);
    const real = new MemoryBlobService();
    let aborted = 0;
    const fullLocal: BlobService = {
      has: (x) => real.has(x), stat: (x) => real.stat(x), read: (x, r) => real.read(x, r),
      openWriter: () => ({
        write: async () => { throw Object.assign(new Error('no space'), { code: 'DISK_FULL' }); },
        close: async () => { throw new Error('unreachable'); },
        abort: async () => { aborted++; },
      }),
    };
    const { got, err } = await readUntilError((await new LayeredBlobService(fullLocal, [lower]).read(d))!);
    assert.equal(got, 0);
    assert.equal((err as { code?: unknown }).code, 'DISK_FULL');
    assert.equal(aborted, 1);
  });

  it('rejects malformed digests and ranges before asking any tier', async () => {
    const { local, layered } = setup(1);
    await assert.rejects(layered.read(new Uint8Array(3) as Digest), { code: 'INVALID_DIGEST' });
    await assert.rejects(layered.read(asDigest(new Uint8Array(32)), { start: 2, end: 1 }), { code: 'INVALID_INPUT' });
    assert.equal(local.calls.read, 0);
    assert.throws(() => new LayeredBlobService(local, [], { wholeFetchLimit: -1 }), RangeError);
  });

  it('an empty blob through a lower tier', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const d = await a!.inner.openWriter().close();
    assert.equal((await collect((await layered.read(d))!)).length, 0);
    assert.equal(await local.inner.has(d), true);
  });
});
