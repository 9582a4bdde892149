// Property tests: for random content, group logs and range sets, a slice decodes
// to exactly the requested bytes, and a slice with any one byte flipped past its
// header is refused with only genuine bytes released before the refusal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BytesReader, CombinedSource, decode, encodeBytes, extractSlice, sliceSource, type ByteRange } from '../../src/verify/bao/index.js';

async function sliceOf(encoded: Uint8Array, ranges: ByteRange[], g: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await extractSlice(new CombinedSource(new BytesReader(encoded)), ranges, (b) => { parts.push(Uint8Array.from(b)); }, g);
  return new Uint8Array(Buffer.concat(parts));
}

async function decodeAll(slice: Uint8Array, hash: Uint8Array, g: number, ranges: ByteRange[]): Promise<{ out: Buffer; failed: boolean }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const p of decode(sliceSource(new BytesReader(slice)), { hash, groupLog: g, ranges })) parts.push(Uint8Array.from(p));
    return { out: Buffer.concat(parts), failed: false };
  } catch {
    return { out: Buffer.concat(parts), failed: true };
  }
}

const rangeArb = fc.tuple(fc.nat({ max: 70_000 }), fc.nat({ max: 20_000 })).map(([start, count]) => ({ start, end: start + count }));

test('slices of random range sets decode to exactly the requested bytes; any flip past the header is refused', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 65_536 }),
      fc.integer({ min: 0, max: 3 }),
      fc.array(rangeArb, { minLength: 1, maxLength: 3 }),
      fc.nat(),
      async (data, g, ranges, flipSeed) => {
        const { hash, encoded } = await encodeBytes(data, g);
        const slice = await sliceOf(encoded, ranges, g);
        const good = await decodeAll(slice, hash, g, ranges);
        assert.equal(good.failed, false);
        // Overlapping requests release their union once, in order.
        const union = Buffer.concat(unionOf(ranges, data.length).map((r) => data.subarray(r.start, r.end)));
        assert.ok(good.out.equals(union));
        if (slice.length > 8) {
          const at = 8 + (flipSeed % (slice.length - 8));
          const bad = Uint8Array.from(slice);
          bad[at]! ^= 1 << (flipSeed % 8);
          const r = await decodeAll(bad, hash, g, ranges);
          assert.equal(r.failed, true, `flip at ${at} accepted`);
          assert.ok(union.subarray(0, r.out.length).equals(r.out), 'released bytes not genuine');
        }
      },
    ),
    { numRuns: 150 },
  );
});

function unionOf(ranges: ByteRange[], len: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of [...ranges].map((x) => ({ start: Math.min(x.start, len), end: Math.min(x.end, len) })).sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    else if (r.end > r.start) out.push(r);
  }
  return out;
}
