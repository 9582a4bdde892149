// bao at G = 0 against the official vectors: hash, combined and outboard
// encodings byte for byte, seeks, slices, and every listed corruption rejected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake3, toHex } from '../../src/verify/blake3/index.js';
import { BytesReader, CombinedSource, decode, encodeBytes, extractSlice, OutboardSource, outboardOf, sliceSource, type TreeSource, type ByteRange } from '../../src/verify/bao/index.js';
import { baoInput, loadVectors } from './vectors.js';

interface BaoVectors {
  hash: { input_len: number; bao_hash: string }[];
  encode: { input_len: number; output_len: number; bao_hash: string; encoded_blake3: string; corruptions: number[] }[];
  outboard: { input_len: number; output_len: number; bao_hash: string; encoded_blake3: string; outboard_corruptions: number[]; input_corruptions: number[] }[];
  seek: { input_len: number; seek_offsets: number[] }[];
  slice: { input_len: number; bao_hash: string; slices: { start: number; len: number; output_len: number; output_blake3: string; corruptions: number[] }[] }[];
}

const v = loadVectors<BaoVectors>('bao_test_vectors.json');

export async function collect(source: TreeSource, hash: Uint8Array, g: number, ranges?: ByteRange[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of decode(source, { hash, groupLog: g, ranges })) parts.push(Uint8Array.from(p));
  return new Uint8Array(Buffer.concat(parts));
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[at]! ^= 1;
  return c;
}

test('bao hash vectors', () => {
  for (const c of v.hash) assert.equal(toHex(blake3(baoInput(c.input_len))), c.bao_hash);
});

test('combined encoding vectors, decode, and every corruption offset rejected', async () => {
  for (const c of v.encode) {
    const input = baoInput(c.input_len);
    const { hash, encoded } = await encodeBytes(input, 0);
    assert.equal(toHex(hash), c.bao_hash);
    assert.equal(encoded.length, c.output_len);
    assert.equal(toHex(blake3(encoded)), c.encoded_blake3, `encoded ${c.input_len}`);
    assert.deepEqual(await collect(new CombinedSource(new BytesReader(encoded)), hash, 0), input);
    for (const at of c.corruptions) {
      await assert.rejects(collect(new CombinedSource(new BytesReader(flip(encoded, at))), hash, 0), `corruption at ${at} of ${c.input_len}`);
    }
  }
});

test('outboard vectors and corruptions in the outboard and in the input', async () => {
  for (const c of v.outboard) {
    const input = baoInput(c.input_len);
    const ob = outboardOf(input, 0);
    assert.equal(ob.outboard.length, c.output_len);
    assert.equal(toHex(blake3(ob.outboard)), c.encoded_blake3);
    const dec = (o: Uint8Array, d: Uint8Array): Promise<Uint8Array> => collect(new OutboardSource(new BytesReader(o), new BytesReader(d)), ob.hash, 0);
    assert.deepEqual(await dec(ob.outboard, input), input);
    for (const at of c.outboard_corruptions) await assert.rejects(dec(flip(ob.outboard, at), input), `outboard corruption ${at}`);
    for (const at of c.input_corruptions) await assert.rejects(dec(ob.outboard, flip(input, at)), `input corruption ${at}`);
  }
});

test('seek vectors: decoding from an offset gives the rest, or nothing past the end', async () => {
  for (const c of v.seek) {
    const input = baoInput(c.input_len);
    const { hash, encoded } = await encodeBytes(input, 0);
    for (const off of c.seek_offsets) {
      const got = await collect(new CombinedSource(new BytesReader(encoded)), hash, 0, [{ start: off, end: Number.MAX_SAFE_INTEGER }]);
      assert.deepEqual(got, input.subarray(Math.min(off, input.length)), `seek ${off} of ${c.input_len}`);
    }
  }
});

test('slice vectors: extraction byte for byte, decoding, corruptions rejected', async () => {
  for (const c of v.slice) {
    const input = baoInput(c.input_len);
    const { hash, encoded } = await encodeBytes(input, 0);
    const ob = outboardOf(input, 0);
    for (const s of c.slices) {
      const range = [{ start: s.start, end: s.start + s.len }];
      const parts: Uint8Array[] = [];
      await extractSlice(new CombinedSource(new BytesReader(encoded)), range, (b) => { parts.push(Uint8Array.from(b)); }, 0);
      const slice = new Uint8Array(Buffer.concat(parts));
      assert.equal(slice.length, s.output_len, `slice ${s.start}+${s.len} of ${c.input_len}`);
      assert.equal(toHex(blake3(slice)), s.output_blake3);
      const fromOutboard: Uint8Array[] = [];
      await extractSlice(new OutboardSource(new BytesReader(ob.outboard), new BytesReader(input)), range, (b) => { fromOutboard.push(Uint8Array.from(b)); }, 0);
      assert.deepEqual(new Uint8Array(Buffer.concat(fromOutboard)), slice);
      const got = await collect(sliceSource(new BytesReader(slice)), hash, 0, range);
      const lo = Math.min(s.start, input.length);
      assert.deepEqual(got, input.subarray(lo, Math.min(s.start + s.len, input.length)));
      for (const at of s.corruptions) {
        await assert.rejects(collect(sliceSource(new BytesReader(flip(slice, at))), hash, 0, range), `slice corruption ${at}`);
      }
    }
  }
});
