// Checks the WebAssembly SIMD BLAKE3 kernel against the scalar kernel and @noble/hashes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake3 } from '@noble/hashes/blake3.js';
import { compress } from '../../src/verify/blake3/compress.js';
import {
  BLOCK_LEN, CHUNK_END, CHUNK_LEN, CHUNK_START, DERIVE_KEY_CONTEXT, DERIVE_KEY_MATERIAL, IV, KEYED_HASH, PARENT, ROOT,
} from '../../src/verify/blake3/constants.js';
import type { Blake3Kernel } from '../../src/verify/blake3/kernel.js';
import { ScalarKernel } from '../../src/verify/blake3/scalar-kernel.js';
import { createKernel } from '../../src/verify/blake3/select-kernel.js';
import { WasmSimdKernel, simdSupported } from '../../src/verify/blake3/wasm-kernel.js';

/** Deterministic xorshift32 bytes, so a failure reproduces. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function randomWords(n: number, seed: number): Uint32Array {
  return new Uint32Array(randomBytes(4 * n, seed).buffer);
}

const wordsToBytes = (w: Uint32Array): Uint8Array => new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
const bytesToWords = (b: Uint8Array): Uint32Array => new Uint32Array(Uint8Array.from(b).buffer);

const MODES: { name: string; flags: number; key: Uint32Array }[] = [
  { name: 'hash', flags: 0, key: IV },
  { name: 'keyed', flags: KEYED_HASH, key: randomWords(8, 99) },
  { name: 'derive', flags: DERIVE_KEY_MATERIAL, key: randomWords(8, 123) },
];
const COUNTERS = [0, 7, 2 ** 32 - 2, 2 ** 32 + 5, 2 ** 40 + 3];
const CHUNK_COUNTS = [...Array.from({ length: 20 }, (_, i) => i + 1), 64, 300];

const scalar = new ScalarKernel();
const wasm = new WasmSimdKernel();

function scalarChunks(input: Uint8Array, counter: number, key: Uint32Array, flags: number): Uint32Array {
  const out = new Uint32Array((input.length / CHUNK_LEN) * 8);
  scalar.hashChunks(input, counter, key, flags, out, 0);
  return out;
}

test('simdSupported() is true on Node 20', () => {
  assert.equal(simdSupported(), true);
});

test('hashChunks matches the scalar kernel for every n, mode and counter', () => {
  for (const mode of MODES) {
    for (const n of CHUNK_COUNTS) {
      const input = randomBytes(n * CHUNK_LEN, n * 7919 + mode.flags);
      for (const counter of COUNTERS) {
        const want = scalarChunks(input, counter, mode.key, mode.flags);
        // A nonzero outOff with sentinels on both sides catches writes outside the n CVs.
        const got = new Uint32Array(8 * n + 40).fill(0xdeadbeef);
        wasm.hashChunks(input, counter, mode.key, mode.flags, got, 16);
        assert.deepEqual(got.subarray(16, 16 + 8 * n), want, `${mode.name} n=${n} counter=${counter}`);
        assert.ok(got.subarray(0, 16).every((w) => w === 0xdeadbeef), 'wrote before outOff');
        assert.ok(got.subarray(16 + 8 * n).every((w) => w === 0xdeadbeef), 'wrote past the last CV');
      }
    }
  }
});

test('the chunk counter carries into its high word inside a group of four', () => {
  // Lanes 0,1 sit below 2^32 and lanes 2,3 above it: only a per-lane carry gets all four right.
  const input = randomBytes(4 * CHUNK_LEN, 5);
  const got = new Uint32Array(32);
  wasm.hashChunks(input, 2 ** 32 - 2, IV, 0, got, 0);
  for (let i = 0; i < 4; i++) {
    const one = scalarChunks(input.subarray(i * CHUNK_LEN, (i + 1) * CHUNK_LEN), 2 ** 32 - 2 + i, IV, 0);
    assert.deepEqual(got.subarray(8 * i, 8 * i + 8), one, `lane ${i}`);
  }
});

test('hashChunks accepts unaligned input', () => {
  for (const shift of [1, 2, 3]) {
    for (const n of [1, 5, 300]) {
      const backing = randomBytes(n * CHUNK_LEN + shift, shift * 31 + n);
      const input = backing.subarray(shift);
      assert.notEqual(input.byteOffset % 4, 0);
      const got = new Uint32Array(8 * n);
      wasm.hashChunks(input, 3, IV, 0, got, 0);
      assert.deepEqual(got, scalarChunks(input, 3, IV, 0), `shift=${shift} n=${n}`);
    }
  }
});

test('hashChunks hashes input placed in scratch()', () => {
  const k = new WasmSimdKernel();
  for (const n of [1, 3, 4, 17, 300, 20]) {
    const data = randomBytes(n * CHUNK_LEN, 4242 + n);
    const view = k.scratch(n * CHUNK_LEN);
    view.set(data);
    const got = new Uint32Array(8 * n);
    k.hashChunks(view, 2 ** 32 - 1, MODES[1]!.key, KEYED_HASH, got, 0);
    assert.deepEqual(got, scalarChunks(data, 2 ** 32 - 1, MODES[1]!.key, KEYED_HASH), `n=${n}`);
  }
  // An unaligned part of the scratch region, hashed in place.
  const view = k.scratch(5 * CHUNK_LEN + 3);
  view.set(randomBytes(view.length, 77));
  const part = view.subarray(3);
  const got = new Uint32Array(40);
  k.hashChunks(part, 0, IV, 0, got, 0);
  assert.deepEqual(got, scalarChunks(Uint8Array.from(part), 0, IV, 0));
});

test('a scratch() view survives hashing of other input', () => {
  const k = new WasmSimdKernel();
  const view = k.scratch(4 * CHUNK_LEN);
  const data = randomBytes(view.length, 8);
  view.set(data);
  // Far larger than anything reserved so far: must not grow memory and detach `view`.
  const other = randomBytes(400 * CHUNK_LEN, 9);
  k.hashChunks(other, 0, IV, 0, new Uint32Array(400 * 8), 0);
  k.hashParents(randomWords(16 * 5000, 10), 0, 5000, IV, 0, new Uint32Array(8 * 5000), 0);
  assert.equal(view.length, 4 * CHUNK_LEN);
  assert.deepEqual(view, data);
  const got = new Uint32Array(32);
  k.hashChunks(view, 0, IV, 0, got, 0);
  assert.deepEqual(got, scalarChunks(data, 0, IV, 0));
});

test('hashChunks rejects a length that is not whole chunks, and ignores empty input', () => {
  assert.throws(() => wasm.hashChunks(new Uint8Array(1000), 0, IV, 0, new Uint32Array(8), 0), RangeError);
  const out = new Uint32Array(8).fill(1);
  wasm.hashChunks(new Uint8Array(0), 0, IV, 0, out, 0);
  assert.ok(out.every((w) => w === 1));
});

function checkParents(k: Blake3Kernel, n: number, mode: (typeof MODES)[number], inOff: number, outOff: number, inPlace: boolean): void {
  const cvs = randomWords(inOff + 16 * n + 8, n * 131 + inOff);
  const want = new Uint32Array(8 * n);
  scalar.hashParents(cvs, inOff, n, mode.key, mode.flags, want, 0);
  const out = inPlace ? cvs : new Uint32Array(outOff + 8 * n + 8).fill(0xdeadbeef);
  k.hashParents(cvs, inOff, n, mode.key, mode.flags, out, outOff);
  const what = `${mode.name} n=${n} inOff=${inOff} outOff=${outOff} inPlace=${inPlace}`;
  assert.deepEqual(out.subarray(outOff, outOff + 8 * n), want, what);
  if (!inPlace) assert.ok(out.subarray(outOff + 8 * n).every((w) => w === 0xdeadbeef), `${what}: wrote past the end`);
}

test('hashParents matches the scalar kernel, also in place', () => {
  for (const mode of MODES) {
    for (let n = 1; n <= 13; n++) {
      checkParents(wasm, n, mode, 0, 0, false);
      checkParents(wasm, n, mode, 24, 8, false);
      checkParents(wasm, n, mode, 0, 0, true);
      checkParents(wasm, n, mode, 32, 8, true);
      checkParents(wasm, n, mode, 16 * n, 0, true);
    }
  }
  // Several copy windows, in place: a window's CVs must not land on unread parents.
  for (const n of [4096, 4097, 9000]) {
    checkParents(wasm, n, MODES[0]!, 0, 0, true);
    checkParents(wasm, n, MODES[2]!, 40, 8, true);
  }
});

test('createKernel picks wasm-simd, and CASTOR_BLAKE3_KERNEL=scalar forces scalar', () => {
  const saved = process.env['CASTOR_BLAKE3_KERNEL'];
  try {
    delete process.env['CASTOR_BLAKE3_KERNEL'];
    assert.equal(createKernel().name, 'wasm-simd');
    process.env['CASTOR_BLAKE3_KERNEL'] = 'scalar';
    assert.equal(createKernel().name, 'scalar');
    process.env['CASTOR_BLAKE3_KERNEL'] = 'wasm-simd';
    assert.equal(createKernel().name, 'wasm-simd');
    process.env['CASTOR_BLAKE3_KERNEL'] = 'avx9000';
    assert.throws(() => createKernel());
  } finally {
    if (saved === undefined) delete process.env['CASTOR_BLAKE3_KERNEL'];
    else process.env['CASTOR_BLAKE3_KERNEL'] = saved;
  }
});

/** The root hash of exactly two chunks: their CVs, one parent compression with ROOT set. */
function twoChunkRoot(k: Blake3Kernel, input: Uint8Array, key: Uint32Array, flags: number): Uint8Array {
  const block = new Uint32Array(16);
  k.hashChunks(input, 0, key, flags, block, 0);
  const root = new Uint32Array(8);
  compress(key, 0, block, 0, 0, BLOCK_LEN, flags | PARENT | ROOT, root, 0);
  return wordsToBytes(root);
}

/** BLAKE3's derive_key: the context string hashed (one block here) into the key. */
function contextKey(context: string): Uint32Array {
  const bytes = new TextEncoder().encode(context);
  assert.ok(bytes.length <= BLOCK_LEN);
  const block = new Uint8Array(BLOCK_LEN);
  block.set(bytes);
  const key = new Uint32Array(8);
  compress(IV, 0, bytesToWords(block), 0, 0, bytes.length, CHUNK_START | CHUNK_END | ROOT | DERIVE_KEY_CONTEXT, key, 0);
  return key;
}

test('two-chunk roots agree with @noble/hashes for hash, keyed hash and derive_key', () => {
  const input = randomBytes(2 * CHUNK_LEN, 2024);
  for (const k of [wasm, scalar]) {
    assert.deepEqual(twoChunkRoot(k, input, IV, 0), blake3(input), k.name);
    const keyBytes = randomBytes(32, 31337);
    assert.deepEqual(twoChunkRoot(k, input, bytesToWords(keyBytes), KEYED_HASH), blake3(input, { key: keyBytes }), k.name);
    const context = 'castor 2025-01-01 kernel test context';
    assert.deepEqual(
      twoChunkRoot(k, input, contextKey(context), DERIVE_KEY_MATERIAL),
      blake3(input, { context: new TextEncoder().encode(context) }),
      k.name,
    );
  }
});
