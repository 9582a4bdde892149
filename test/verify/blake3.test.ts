// BLAKE3 against the official vectors (all modes, full extended output) and
// against @noble/hashes on random sizes and split points.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { blake3, deriveKey, Hasher, keyedHash, subtreeChainingValue, toHex, HASH_MODE, chunkOutput, parentOutput } from '../../src/verify/blake3/index.js';
import { blake3Input, loadVectors } from './vectors.js';

interface Blake3Vectors {
  key: string;
  context_string: string;
  cases: { input_len: number; hash: string; keyed_hash: string; derive_key: string }[];
}

const vectors = loadVectors<Blake3Vectors>('blake3_test_vectors.json');
const key = new TextEncoder().encode(vectors.key);

test('official BLAKE3 vectors: hash, keyed_hash, derive_key at full XOF length', () => {
  for (const c of vectors.cases) {
    const input = blake3Input(c.input_len);
    const xofLen = c.hash.length / 2;
    assert.equal(toHex(blake3(input, xofLen)), c.hash, `hash ${c.input_len}`);
    assert.equal(toHex(blake3(input)), c.hash.slice(0, 64), `hash32 ${c.input_len}`);
    assert.equal(toHex(keyedHash(key, input, xofLen)), c.keyed_hash, `keyed ${c.input_len}`);
    assert.equal(toHex(deriveKey(vectors.context_string, input, xofLen)), c.derive_key, `derive ${c.input_len}`);
  }
});

test('streaming in uneven pieces equals one-shot, for random sizes, against @noble/hashes', () => {
  const sizes = [0, 1, 1023, 1024, 1025, 16384, 16385, 65536 * 3 + 17, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5000];
  for (let i = 0; i < 12; i++) sizes.push(Math.floor(Math.random() * 5_000_000));
  for (const size of sizes) {
    const data = randomBytes(size);
    const expected = toHex(nobleBlake3(data));
    assert.equal(toHex(blake3(data)), expected, `one-shot ${size}`);
    const h = new Hasher();
    for (let pos = 0; pos < size;) {
      const n = Math.min(size - pos, 1 + Math.floor(Math.random() * 300_000));
      h.update(data.subarray(pos, pos + n));
      pos += n;
    }
    const r = h.finalize();
    assert.equal(toHex(r.hash), expected, `streamed ${size}`);
    assert.equal(r.length, size);
  }
});

test('outboard hashing takes any split of the input: small pieces gathered, large ones hashed in place, same hash and nodes', () => {
  for (const groupLog of [0, 2, 4, 8]) {
    const unit = 1024 << groupLog;
    for (const size of [0, 1, unit - 1, unit, unit + 1, 2 * unit, (1 << 20) + unit, 3 * (1 << 20) + 12_345]) {
      const data = randomBytes(size);
      const whole = new Hasher({ groupLog }).update(data).finalize();
      assert.equal(toHex(whole.hash), toHex(nobleBlake3(data)), `G=${groupLog} ${size} whole`);
      // Pieces from one byte to a few units, so both the gathering and the in-place path run, from every offset in a unit.
      const h = new Hasher({ groupLog });
      for (let pos = 0; pos < size;) {
        const n = Math.min(size - pos, Math.random() < 0.5 ? 1 + Math.floor(Math.random() * 2000) : 1 + Math.floor(Math.random() * 4 * unit));
        h.update(data.subarray(pos, pos + n));
        pos += n;
      }
      const streamed = h.finalize();
      assert.equal(toHex(streamed.hash), toHex(whole.hash), `G=${groupLog} ${size} streamed`);
      assert.ok(Buffer.from(streamed.nodes!).equals(Buffer.from(whole.nodes!)), `G=${groupLog} ${size} nodes`);
    }
  }
});

test('subtree chaining values compose into the root', () => {
  const data = randomBytes(8 * 1024 + 100);
  const left = subtreeChainingValue(data.subarray(0, 8192), 0);
  const right = subtreeChainingValue(data.subarray(8192), 8);
  const root = parentOutput(left, right, HASH_MODE).rootBytes();
  assert.equal(toHex(root), toHex(nobleBlake3(data)));
  assert.throws(() => subtreeChainingValue(data.subarray(0, 4096), 2), { code: 'INVALID_INPUT' });
});

test('subtree values at chunk counters past 2^32 use the high counter word', () => {
  const chunk = randomBytes(1024);
  const lo = subtreeChainingValue(chunk, 5);
  const hi = subtreeChainingValue(chunk, 2 ** 32 + 5);
  assert.notEqual(toHex(Buffer.from(lo.buffer)), toHex(Buffer.from(hi.buffer)));
  // A one-chunk subtree's value is its chunk output's chaining value at that counter.
  assert.deepEqual(hi, chunkOutput(chunk, 2 ** 32 + 5, HASH_MODE).chainingValue());
  const four = randomBytes(4096);
  const base = 2 ** 33;
  const cvs = [0, 1, 2, 3].map((i) => chunkOutput(four.subarray(i * 1024, (i + 1) * 1024), base + i, HASH_MODE).chainingValue());
  const manual = parentOutput(parentOutput(cvs[0]!, cvs[1]!, HASH_MODE).chainingValue(), parentOutput(cvs[2]!, cvs[3]!, HASH_MODE).chainingValue(), HASH_MODE).chainingValue();
  assert.deepEqual(subtreeChainingValue(four, base), manual);
});
