// The verifying slicer (the server's side): from an outboard and its content it yields
// exactly the bytes extractSlice would, for any ranges, group log and batch size; damage
// to the content or the outboard ends it with HASH_MISMATCH after a prefix of the good
// slice that stops before the damaged node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BytesReader, extractSlice, OutboardSource, outboardOf, verifiedSliceBlocks, type ByteRange, type ContentSource,
} from '../../src/verify/bao/index.js';
import { CastorError } from '../../src/verify/errors.js';

function memoryContent(data: Uint8Array): ContentSource {
  return {
    readInto(dst, pos) {
      if (pos + dst.length > data.length) throw new Error('read past the content');
      dst.set(data.subarray(pos, pos + dst.length));
    },
  };
}

async function expectedSlice(data: Uint8Array, outboard: Uint8Array, ranges: ByteRange[], g: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  await extractSlice(new OutboardSource(new BytesReader(outboard), new BytesReader(data)), ranges, (b) => { parts.push(Uint8Array.from(b)); }, g);
  return Buffer.concat(parts);
}

async function blocks(
  data: Uint8Array, outboard: Uint8Array, hash: Uint8Array, ranges: ByteRange[], g: number, batchBytes: number, firstBatchBytes?: number,
): Promise<{ out: Buffer; error?: unknown; count: number }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const b of verifiedSliceBlocks(new BytesReader(outboard), memoryContent(data), { hash, groupLog: g, ranges, batchBytes, firstBatchBytes })) parts.push(b);
    return { out: Buffer.concat(parts), count: parts.length };
  } catch (error: unknown) {
    return { out: Buffer.concat(parts), error, count: parts.length };
  }
}

const rangeArb = fc.tuple(fc.nat({ max: 90_000 }), fc.nat({ max: 30_000 })).map(([start, count]) => ({ start, end: start + count }));

test('blocks join to exactly the slice extractSlice makes, for random content, ranges, group logs and batch sizes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 80_000 }),
      fc.integer({ min: 0, max: 4 }),
      fc.array(rangeArb, { minLength: 0, maxLength: 3 }),
      fc.integer({ min: 1, max: 40_000 }),
      fc.option(fc.integer({ min: 1, max: 40_000 })),
      async (data, g, ranges, batchBytes, firstBatchBytes) => {
        const { hash, outboard } = outboardOf(data, g);
        const want = await expectedSlice(data, outboard, ranges, g);
        const got = await blocks(data, outboard, hash, ranges, g, batchBytes, firstBatchBytes ?? undefined);
        assert.equal(got.error, undefined);
        assert.ok(got.out.equals(want));
      },
    ),
    { numRuns: 200 },
  );
});

test('a damaged content byte or parent ends the slice with HASH_MISMATCH, after only a prefix that stops before the damaged node', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 80_000 }),
      fc.integer({ min: 0, max: 3 }),
      fc.array(rangeArb, { minLength: 1, maxLength: 3 }),
      fc.nat(),
      fc.boolean(),
      async (data, g, ranges, seed, inOutboard) => {
        const { hash, outboard } = outboardOf(data, g);
        const want = await expectedSlice(data, outboard, ranges, g);
        let badData = data;
        let badOutboard = outboard;
        if (inOutboard) {
          if (outboard.length <= 8) return;
          badOutboard = Uint8Array.from(outboard);
          badOutboard[8 + (seed % (outboard.length - 8))]! ^= 1 << (seed % 8);
        } else {
          badData = Uint8Array.from(data);
          badData[seed % data.length]! ^= 1 << (seed % 8);
        }
        const bad = await expectedSlice(badData, badOutboard, ranges, g);
        const got = await blocks(badData, badOutboard, hash, ranges, g, 1 << (10 + g + (seed % 3)), 1 << (10 + g));
        if (bad.equals(want)) {
          // The damage is outside what the slice carries: nothing to notice.
          assert.equal(got.error, undefined);
          assert.ok(got.out.equals(want));
          return;
        }
        assert.ok(got.error instanceof CastorError && got.error.code === 'HASH_MISMATCH', `damage not reported: ${String(got.error)}`);
        // Everything sent is the good slice, and it stops before the first differing byte.
        assert.ok(want.subarray(0, got.out.length).equals(got.out), 'sent bytes are not the good slice');
        let first = 0;
        while (first < want.length && want[first] === bad[first]) first++;
        assert.ok(got.out.length <= first, `sent ${got.out.length} bytes, damage at ${first}`);
      },
    ),
    { numRuns: 300 },
  );
});
