// verifyOutboard: real outboards of every shape accepted, and from the result each
// group's chaining value checks that group; every single flipped byte, a wrong length,
// a cut or padded outboard refused with its typed error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { blake3, subtreeChainingValue } from '../../src/verify/blake3/index.js';
import { groupBytes, outboardOf } from '../../src/verify/bao/index.js';
import { verifyOutboard, LengthMismatchError, OutboardSizeError } from '../../src/verify/bao/verify-outboard.js';
import { CastorError, HashMismatchError, InvalidInputError, UnexpectedEofError } from '../../src/verify/errors.js';

const randomBytes = (n: number): Uint8Array => new Uint8Array(nodeRandomBytes(n));
const KiB = 1024;
const MiB = 1 << 20;
const SIZES = [0, 1, 1023, 1024, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 32 * KiB, 48 * KiB + 5, 5 * MiB + 12_345];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err: unknown) {
    return err instanceof CastorError ? err.code : String(err);
  }
}

test('real outboards verify, at G = 4 and other group logs, and every group checks against the value read off them', () => {
  for (const len of SIZES) {
    const data = randomBytes(len);
    for (const g of [0, 2, 4, 8]) {
      if (g === 0 && len > MiB) continue;
      const ob = outboardOf(data, g);
      const v = verifyOutboard(ob.hash, len, ob.outboard, g);
      assert.equal(v.groupCount, Math.max(1, Math.ceil(len / groupBytes(g))), `len ${len} g ${g}`);
      // A whole-data check verifies every group; a flipped byte in a group names that group.
      assert.equal(v.verifyGroups(0, data), v.groupCount, `len ${len} g ${g}`);
      if (g !== 4) continue;
      for (const i of new Set([0, 1, Math.floor(v.groupCount / 2), v.groupCount - 1].filter((i) => i < v.groupCount))) {
        const { start, end } = v.groupRange(i);
        const group = data.subarray(start, end);
        v.checkGroup(i, group);
        const cv = v.groupChainingValue(i);
        if (v.groupCount === 1) assert.equal(cv, undefined);
        else assert.deepEqual(cv, subtreeChainingValue(group, start / KiB));
        if (end > start) {
          const bad = group.slice();
          bad[bad.length >> 1]! ^= 1;
          assert.throws(() => v.checkGroup(i, bad), (e: unknown) => e instanceof HashMismatchError && e.value === i);
          const flipped = data.slice();
          flipped[start + (bad.length >> 1)]! ^= 1;
          assert.equal(v.verifyGroups(0, flipped), i, `len ${len} group ${i}`);
        }
      }
    }
  }
});

test('the empty blob: only the header, and its one (empty) group is checked against the root', () => {
  const ob = outboardOf(new Uint8Array(0));
  assert.equal(ob.outboard.length, 8);
  const v = verifyOutboard(ob.hash, 0, ob.outboard, 4);
  assert.deepEqual(ob.hash, blake3(new Uint8Array(0)));
  v.checkGroup(0, new Uint8Array(0));
  // With another digest the header still verifies (nothing else to check), but the group does not.
  const other = verifyOutboard(blake3(Uint8Array.of(1)), 0, ob.outboard, 4);
  assert.throws(() => other.checkGroup(0, new Uint8Array(0)), HashMismatchError);
});

test('any single flipped byte of an outboard is refused', () => {
  for (const len of [1, 16 * KiB, 16 * KiB + 1, 100_000, 3 * MiB + 7]) {
    const ob = outboardOf(randomBytes(len), 4);
    // Every byte, each with one bit flipped (the bit moving along), and the top and bottom bits of the header.
    for (let i = 0; i < ob.outboard.length; i++) {
      for (const flip of i < 8 ? [1, 0x80] : [1 << (i % 8)]) {
        const bad = ob.outboard.slice();
        bad[i]! ^= flip;
        const code = codeOf(() => verifyOutboard(ob.hash, len, bad, 4));
        const expected = i < 8 ? ['LENGTH_MISMATCH', 'LENGTH_TOO_LARGE'] : ['HASH_MISMATCH'];
        assert.ok(code !== undefined && expected.includes(code), `len ${len} byte ${i} flip ${flip}: ${code}`);
      }
    }
  }
});

test('a bad parent is named by its offset in the outboard', () => {
  const ob = outboardOf(randomBytes(200_000), 4);
  const bad = ob.outboard.slice();
  bad[8 + 64 * 3 + 5]! ^= 1;
  assert.throws(() => verifyOutboard(ob.hash, 200_000, bad, 4), (e: unknown) => e instanceof HashMismatchError && e.offset === 8 + 64 * 3);
});

test('of two bad parents the first in pre-order is named, whichever is nearer the root', () => {
  const len = 1 * MiB + 40 * KiB;
  const ob = outboardOf(randomBytes(len), 4);
  // Parents in pre-order: the root (0), then the left subtree over 1 MiB (64 groups: 63
  // parents, 1..63), then the right child of the root (64) and its subtree.
  const parents = (ob.outboard.length - 8) / 64;
  for (const [deepLeft, right] of [[63, 64], [40, parents - 1], [1, 64]] as const) {
    const bad = ob.outboard.slice();
    bad[8 + 64 * right + 7]! ^= 1;
    bad[8 + 64 * deepLeft + 40]! ^= 1;
    assert.throws(() => verifyOutboard(ob.hash, len, bad, 4), (e: unknown) => e instanceof HashMismatchError && e.offset === 8 + 64 * deepLeft, `${deepLeft} before ${right}`);
  }
});

test('wrong digest, wrong size, truncated and padded outboards are refused with typed errors', () => {
  const len = 300_000;
  const ob = outboardOf(randomBytes(len), 4);
  const wrongDigest = ob.hash.slice();
  wrongDigest[0]! ^= 1;
  assert.throws(() => verifyOutboard(wrongDigest, len, ob.outboard, 4), HashMismatchError);
  for (const size of [len - 1, len + 1, 0, 16 * KiB, len * 2]) {
    assert.throws(() => verifyOutboard(ob.hash, size, ob.outboard, 4), LengthMismatchError, `size ${size}`);
  }
  for (const cut of [0, 4, 7, 8, 9, 64, ob.outboard.length - 64, ob.outboard.length - 1]) {
    assert.throws(() => verifyOutboard(ob.hash, len, ob.outboard.subarray(0, cut), 4), UnexpectedEofError, `cut ${cut}`);
  }
  const padded = new Uint8Array(ob.outboard.length + 64);
  padded.set(ob.outboard);
  assert.throws(() => verifyOutboard(ob.hash, len, padded, 4), OutboardSizeError);
  assert.throws(() => verifyOutboard(ob.hash, len, Uint8Array.of(...ob.outboard, 0), 4), OutboardSizeError);
  // The header and outboard of another length with the same shape: parents still match, the length does not.
  const small = outboardOf(randomBytes(10), 4);
  assert.throws(() => verifyOutboard(small.hash, 11, small.outboard, 4), LengthMismatchError);
  // A header beyond 2^53.
  const huge = ob.outboard.slice();
  huge[7] = 0xff;
  assert.equal(codeOf(() => verifyOutboard(ob.hash, len, huge, 4)), 'LENGTH_TOO_LARGE');
  // The outboard of another group log.
  assert.ok(codeOf(() => verifyOutboard(ob.hash, len, outboardOf(randomBytes(len), 3).outboard, 4)) !== undefined);
  assert.throws(() => verifyOutboard(ob.hash.subarray(0, 31), len, ob.outboard, 4), InvalidInputError);
  assert.throws(() => verifyOutboard(ob.hash, -1, ob.outboard, 4), InvalidInputError);
  assert.throws(() => verifyOutboard(ob.hash, len, ob.outboard, 9), InvalidInputError);
});

test('verifyGroups refuses runs that are not whole groups, and indices outside the tree', () => {
  const len = 40 * KiB;
  const data = randomBytes(len);
  const ob = outboardOf(data, 4);
  const v = verifyOutboard(ob.hash, len, ob.outboard, 4);
  assert.equal(v.verifyGroups(1, data.subarray(16 * KiB)), 2);
  assert.equal(v.verifyGroups(2, data.subarray(32 * KiB)), 1);
  assert.throws(() => v.verifyGroups(0, data.subarray(0, 100)), InvalidInputError);
  assert.throws(() => v.verifyGroups(2, data.subarray(32 * KiB, 33 * KiB)), InvalidInputError);
  assert.throws(() => v.verifyGroups(0, new Uint8Array(0)), InvalidInputError);
  assert.throws(() => v.verifyGroups(3, new Uint8Array(0)), InvalidInputError);
  assert.throws(() => v.groupChainingValue(-1), InvalidInputError);
  assert.throws(() => v.checkGroup(0, data.subarray(0, 100)), InvalidInputError);
  // The final group checked as a full group of another content length fails (length proven by the final group).
  const liar = verifyOutboard(ob.hash, 47 * KiB, Uint8Array.of(...new Uint8Array(new BigUint64Array([47n * 1024n]).buffer), ...ob.outboard.subarray(8)), 4);
  assert.equal(liar.verifyGroups(0, data.subarray(0, 32 * KiB)), 2);
  assert.throws(() => liar.checkGroup(2, new Uint8Array(15 * KiB)), HashMismatchError);
});
