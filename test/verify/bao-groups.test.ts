// bao beyond the vectors: chunk groups, multi-range slices, every single-byte
// flip, streaming input in tiny pieces, short reads and trailing garbage.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  BytesReader, CombinedSource, decode, encodeBytes, extractSlice, groupBytes, OutboardSource, outboardOf, sliceSource,
  StreamReader, leftLen, type ByteRange, type TreeSource,
} from '../../src/verify/bao/index.js';
import { HashMismatchError } from '../../src/verify/errors.js';

const randomBytes = (n: number): Uint8Array => new Uint8Array(nodeRandomBytes(n));

async function collectParts(source: TreeSource, hash: Uint8Array, g: number, ranges?: readonly ByteRange[]): Promise<{ out: Uint8Array; err?: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const p of decode(source, { hash, groupLog: g, ranges })) parts.push(Uint8Array.from(p));
    return { out: new Uint8Array(Buffer.concat(parts)) };
  } catch (err: unknown) {
    return { out: new Uint8Array(Buffer.concat(parts)), err };
  }
}

async function slice(src: TreeSource, ranges: readonly ByteRange[], g: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await extractSlice(src, ranges, (b) => { parts.push(Uint8Array.from(b)); }, g);
  return new Uint8Array(Buffer.concat(parts));
}

function expectedOutput(data: Uint8Array, ranges: readonly ByteRange[]): Uint8Array {
  return new Uint8Array(Buffer.concat(ranges.map((r) => data.subarray(Math.min(r.start, data.length), Math.min(r.end, data.length)))));
}

function isPrefix(prefix: Uint8Array, of: Uint8Array): boolean {
  return prefix.length <= of.length && Buffer.compare(Buffer.from(prefix), Buffer.from(of.subarray(0, prefix.length))) === 0;
}

/** Drops the parents of the G = 0 outboard whose subtree fits in one group. */
function pruneToGroups(ob0: Uint8Array, len: number, g: number): Uint8Array {
  const kept: Uint8Array[] = [];
  let pos = 8;
  const visit = (sub: number): void => {
    if (sub <= 1024) return;
    const node = ob0.subarray(pos, pos + 64);
    pos += 64;
    if (sub > groupBytes(g)) kept.push(node);
    const l = leftLen(sub);
    visit(l);
    visit(sub - l);
  };
  visit(len);
  return new Uint8Array(Buffer.concat([ob0.subarray(0, 8), ...kept]));
}

test('G > 0 outboards are the G = 0 outboard without sub-group parents', () => {
  for (const len of [0, 1, 1024, 1025, 16384, 16385, 50_000, 200_000, 1_000_003]) {
    const data = randomBytes(len);
    const ob0 = outboardOf(data, 0).outboard;
    for (let g = 1; g <= 8; g++) assert.deepEqual(outboardOf(data, g).outboard, pruneToGroups(ob0, len, g), `len ${len} g ${g}`);
  }
});

test('round trips at every group log: combined, outboard, slices of random ranges', async () => {
  for (let g = 0; g <= 8; g++) {
    for (const len of [0, 1, 1023, groupBytes(g), groupBytes(g) + 1, 3 * groupBytes(g) - 7, 300_001]) {
      const data = randomBytes(len);
      const { hash, encoded } = await encodeBytes(data, g);
      assert.deepEqual((await collectParts(new CombinedSource(new BytesReader(encoded)), hash, g)).out, data);
      const ob = outboardOf(data, g);
      assert.deepEqual((await collectParts(new OutboardSource(new BytesReader(ob.outboard), new BytesReader(data)), hash, g)).out, data);
      for (let i = 0; i < 4; i++) {
        const start = Math.floor(Math.random() * (len + 10));
        const count = Math.floor(Math.random() * 40_000);
        const ranges = [{ start, end: start + count }];
        const s = await slice(new CombinedSource(new BytesReader(encoded)), ranges, g);
        const r = await collectParts(sliceSource(new BytesReader(s)), hash, g, ranges);
        assert.equal(r.err, undefined, `g ${g} len ${len} slice ${start}+${count}`);
        assert.deepEqual(r.out, expectedOutput(data, ranges));
      }
    }
  }
});

test('every single-byte flip of a small combined encoding is rejected; released bytes are always genuine', async () => {
  for (const [g, len] of [[0, 0], [0, 1], [0, 3100], [1, 5000], [2, 9000]] as const) {
    {
      const data = randomBytes(len);
      const { hash, encoded } = await encodeBytes(data, g);
      for (let at = 0; at < encoded.length; at++) {
        const bad = Uint8Array.from(encoded);
        bad[at]! ^= 0x01 << (at % 8);
        const r = await collectParts(new CombinedSource(new BytesReader(bad)), hash, g);
        assert.ok(r.err !== undefined, `flip at ${at} of g ${g} len ${len} accepted`);
        assert.ok(isPrefix(r.out, data), `flip at ${at}: released bytes not genuine`);
      }
    }
  }
});

test('every single-byte flip of a slice is rejected (header low bytes may only change nothing)', async () => {
  const g = 1;
  const data = randomBytes(20_000);
  const { hash, encoded } = await encodeBytes(data, g);
  for (const ranges of [[{ start: 5000, end: 5100 }], [{ start: 19_990, end: 30_000 }], [{ start: 0, end: 10 }, { start: 12_000, end: 12_001 }]]) {
    const s = await slice(new CombinedSource(new BytesReader(encoded)), ranges, g);
    const want = expectedOutput(data, ranges);
    for (let at = 0; at < s.length; at++) {
      const bad = Uint8Array.from(s);
      bad[at]! ^= 0x80;
      const r = await collectParts(sliceSource(new BytesReader(bad)), hash, g, ranges);
      assert.ok(isPrefix(r.out, want), `flip at ${at}: released bytes not genuine`);
      if (at >= 7) assert.ok(r.err !== undefined, `flip at ${at} accepted for ${JSON.stringify(ranges)}`);
      else if (r.err === undefined) assert.deepEqual(r.out, want);
    }
  }
});

test('multi-range slices: one stream proves several ranges, no bigger than separate slices', async () => {
  const g = 4;
  const data = randomBytes(2_000_000);
  const { hash, encoded } = await encodeBytes(data, g);
  const ob = outboardOf(data, g);
  const ranges = [{ start: 10, end: 20 }, { start: 100_000, end: 180_000 }, { start: 1_999_990, end: 2_100_000 }];
  const multi = await slice(new OutboardSource(new BytesReader(ob.outboard), new BytesReader(data)), ranges, g);
  assert.deepEqual(multi, await slice(new CombinedSource(new BytesReader(encoded)), ranges, g));
  const r = await collectParts(sliceSource(new BytesReader(multi)), hash, g, ranges);
  assert.equal(r.err, undefined);
  assert.deepEqual(r.out, expectedOutput(data, ranges));
  let separate = 0;
  for (const one of ranges) separate += (await slice(new CombinedSource(new BytesReader(encoded)), [one], g)).length;
  assert.ok(multi.length <= separate, `${multi.length} > ${separate}`);
  // Unsorted and overlapping requests mean the same as their union.
  const messy = [ranges[2]!, { start: 15, end: 18 }, ranges[0]!, ranges[1]!];
  assert.deepEqual(await slice(new CombinedSource(new BytesReader(encoded)), messy, g), multi);
});

test('input in one-byte pieces decodes the same; short input is UNEXPECTED_EOF; trailing garbage is never read', async () => {
  const g = 2;
  const data = randomBytes(100_000);
  const { hash, encoded } = await encodeBytes(data, g);
  async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }
  assert.deepEqual((await collectParts(new CombinedSource(new StreamReader(pieces(encoded, 1))), hash, g)).out, data);
  assert.deepEqual((await collectParts(new CombinedSource(new StreamReader(pieces(encoded, 777))), hash, g)).out, data);
  const short = await collectParts(new CombinedSource(new StreamReader(pieces(encoded.subarray(0, encoded.length - 1), 4096))), hash, g);
  assert.equal((short.err as { code?: string }).code, 'UNEXPECTED_EOF');
  assert.ok(isPrefix(short.out, data));
  const garbage = new Uint8Array(Buffer.concat([encoded, randomBytes(1000)]));
  assert.deepEqual((await collectParts(new CombinedSource(new BytesReader(garbage)), hash, g)).out, data);
});

test('a bad group is reported with the offset where it starts, and nothing from it is released', async () => {
  const g = 0;
  const data = randomBytes(10 * 1024);
  const { hash, encoded } = await encodeBytes(data, g);
  // Chunk 5 of 10 sits after the header, its parents and chunks 0..4.
  const enc = Uint8Array.from(encoded);
  const walkOffset = (() => {
    let pos = 8, found = -1;
    const visit = (start: number, len: number): void => {
      if (len <= 1024) { if (start === 5 * 1024) found = pos; pos += len; return; }
      pos += 64;
      const l = leftLen(len);
      visit(start, l);
      visit(start + l, len - l);
    };
    visit(0, data.length);
    return found;
  })();
  enc[walkOffset + 100]! ^= 1;
  const r = await collectParts(new CombinedSource(new BytesReader(enc)), hash, g);
  assert.ok(r.err instanceof HashMismatchError);
  assert.equal((r.err as HashMismatchError).offset, walkOffset);
  assert.ok(r.out.length <= 5 * 1024 && isPrefix(r.out, data));
});

test('a wrong hash is caught at the root for every size', async () => {
  for (const len of [0, 5, 20_000]) {
    const data = randomBytes(len);
    const { hash, encoded } = await encodeBytes(data, 4);
    const wrong = Uint8Array.from(hash);
    wrong[31]! ^= 1;
    const r = await collectParts(new CombinedSource(new BytesReader(encoded)), wrong, 4);
    assert.equal((r.err as { code?: string }).code, 'HASH_MISMATCH');
    assert.equal(r.out.length, 0);
  }
});
