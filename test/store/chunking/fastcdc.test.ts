// FastCDC 2020: the Rust fastcdc crate's v2020 test vectors, streaming equivalence, bounds, and option checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  type Chunk, type ChunkerOptions, DEFAULT_CHUNKER, FastCdcChunker, chunkBuffer, chunkStream, cutParams, findCut,
} from '../../../src/store/chunking/fastcdc.js';
import { GEAR, GEAR_LS } from '../../../src/store/chunking/fastcdc-gear.js';
import { blake3, toHex } from '../../../src/verify/blake3/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/store -> project root -> ../shared/vectors */
const SEKIEN = readFileSync(path.resolve(here, '../../../../../shared/vectors/SekienAkashita.jpg'));

const U64 = (1n << 64n) - 1n;

// The crate's MASKS, for checking mask selection and for the reference below.
const MASKS = [
  0n, 0n, 0n, 0n, 0n, 0x1804110n, 0x1803110n, 0x18035100n, 0x1800035300n, 0x19000353000n, 0x590003530000n,
  0xd90003530000n, 0xd90103530000n, 0xd90303530000n, 0xd90313530000n, 0xd90f03530000n, 0xd90303537000n,
  0xd90703537000n, 0xd90707537000n, 0xd91707537000n, 0xd91747537000n, 0xd91767537000n, 0xd93767537000n,
  0xd93777537000n, 0xd93777577000n, 0xdb3777577000n,
];

/**
 * Line-for-line port of the crate's cut_gear with a full u64 hash, so the crate's expected
 * hashes can be checked too. Slow (BigInt); the fast code is checked against it.
 */
function referenceCut(src: Uint8Array, o: ChunkerOptions): [bigint, number] {
  const level = o.normalization ?? 1;
  const bits = Math.round(Math.log2(o.avg));
  const maskS = MASKS[bits + level]!, maskL = MASKS[bits - level]!;
  const maskSLs = maskS << 1n, maskLLs = maskL << 1n;
  let remaining = src.length;
  if (remaining <= o.min) return [0n, remaining];
  let center = o.avg;
  if (remaining > o.max) remaining = o.max;
  else if (remaining < center) center = remaining;
  let index = Math.floor(o.min / 2);
  let hash = 0n;
  for (; index < Math.floor(center / 2); index++) {
    const a = index * 2;
    hash = ((hash << 2n) + GEAR_LS[src[a]!]!) & U64;
    if ((hash & maskSLs) === 0n) return [hash, a];
    hash = (hash + GEAR[src[a + 1]!]!) & U64;
    if ((hash & maskS) === 0n) return [hash, a + 1];
  }
  for (; index < Math.floor(remaining / 2); index++) {
    const a = index * 2;
    hash = ((hash << 2n) + GEAR_LS[src[a]!]!) & U64;
    if ((hash & maskLLs) === 0n) return [hash, a];
    hash = (hash + GEAR[src[a + 1]!]!) & U64;
    if ((hash & maskL) === 0n) return [hash, a + 1];
  }
  return [hash, remaining];
}

function referenceChunks(buf: Uint8Array, o: ChunkerOptions): Array<[bigint, number, number]> {
  const out: Array<[bigint, number, number]> = [];
  for (let start = 0; start < buf.length; ) {
    const [hash, len] = referenceCut(buf.subarray(start), o);
    out.push([hash, start, len]);
    start += len;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function pseudoRandom(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const spans = (cs: Chunk[]): Array<[number, number]> => cs.map((c) => [c.offset, c.length]);

function streamed(buf: Uint8Array, o: ChunkerOptions, pieceSize: (i: number) => number): Chunk[] {
  const chunker = new FastCdcChunker(o);
  const out: Chunk[] = [];
  for (let pos = 0, i = 0; pos < buf.length; i++) {
    const n = Math.max(1, pieceSize(i));
    // Copies, so a chunk that wrongly points into the wrong piece shows up as bad data.
    out.push(...chunker.push(buf.slice(pos, pos + n)));
    pos += n;
  }
  out.push(...chunker.finish());
  return out;
}

function assertSameChunks(got: Chunk[], want: Chunk[], what: string): void {
  assert.deepEqual(spans(got), spans(want), what);
  got.forEach((c, i) => assert.ok(Buffer.from(c.data).equals(want[i]!.data), `${what}: data of chunk ${i}`));
}

// From the crate's v2020 tests: [name, options, [hash, length] per chunk].
const SEKIEN_CASES: Array<[string, ChunkerOptions, Array<[bigint, number]>]> = [
  ['16k', { min: 4096, avg: 16384, max: 65535 }, [
    [17968276318003433923n, 21325], [8197189939299398838n, 17140], [13019990849178155730n, 28084],
    [4509236223063678303n, 18217], [2504464741100432583n, 24700]]],
  ['32k', { min: 8192, avg: 32768, max: 131072 }, [[15733367461443853673n, 66549], [6321136627705800457n, 42917]]],
  ['64k', { min: 16384, avg: 65536, max: 262144 }, [[2504464741100432583n, 109466]]],
  ['16k nc0', { min: 4096, avg: 16384, max: 65535, normalization: 0 }, [
    [443122261039895162n, 6634], [15733367461443853673n, 59915], [10460176299449652894n, 25597],
    [6197802202431009942n, 5237], [6321136627705800457n, 12083]]],
  ['16k nc3', { min: 8192, avg: 16384, max: 32768, normalization: 3 }, [
    [10718006254707412376n, 17350], [13104072099671895560n, 19911], [12322483109039221194n, 17426],
    [16009206469796846404n, 17519], [2473608525189754172n, 19940], [2504464741100432583n, 17320]]],
];

// The crate's test_iter_sekien_16k_chunks / test_stream_sekien_16k_chunks digests.
const SEKIEN_16K_BLAKE3 = [
  '261930e84e14c240210ae8c459acc4bb85dd52f1b91c868f2106dbc1ceb3acca',
  'a01747cf21202f0068b8897d2be92aa4479b7ac7207b3baa5057b8ec75fa1c10',
  '01e5305fb8f54d214ed2946843ea360fb9bb3f5df66ef3e34fb024d32ebcaee1',
  'fc28c67b6ef846a841452a215bf704058f65cba5c1d78160398d3c2e046642f9',
  'f6996300fce24d3da56c81ea52e5f4f461ce6adb4496f65252996e1082471aac',
];

test('GEAR tables are the crate\'s: MD5-derived, shifted twin, and checksums of the crate source', () => {
  assert.equal(GEAR.length, 256);
  assert.equal(GEAR_LS.length, 256);
  for (let i = 0; i < 256; i++) {
    const md5 = createHash('md5').update(Buffer.alloc(64, i)).digest();
    assert.equal(GEAR[i], md5.readBigUInt64BE(0), `GEAR[${i}]`);
    assert.equal(GEAR_LS[i], (GEAR[i]! << 1n) & U64, `GEAR_LS[${i}]`);
  }
  // sha256 of each table as 256 big-endian u64s, computed from the crate's src/v2020/mod.rs.
  const sha = (t: readonly bigint[]): string => {
    const b = Buffer.alloc(2048);
    t.forEach((v, i) => b.writeBigUInt64BE(v, i * 8));
    return createHash('sha256').update(b).digest('hex');
  };
  assert.equal(sha(GEAR), '9df0a720752a7d211fdebaf39bed01610983756fc340a1cfef41052b7356ae73');
  assert.equal(sha(GEAR_LS), '93123c215ae531383c1b660bb185d4013ba3c87faa99796879f97c4076bdfce2');
});

test('masks are picked by rounded log2(avg) +/- level, as in the crate', () => {
  const split = (m: bigint): [number, number] => [Number(m & 0xffffffn), Number(BigInt.asIntN(32, m >> 24n))];
  const check = (o: ChunkerOptions, s: number, l: number): void => {
    const p = cutParams(o);
    assert.deepEqual([p.maskSLo, p.maskSHi], split(MASKS[s]!), `mask_s ${JSON.stringify(o)}`);
    assert.deepEqual([p.maskLLo, p.maskLHi], split(MASKS[l]!), `mask_l ${JSON.stringify(o)}`);
    assert.deepEqual([p.maskSLsLo, p.maskSLsHi], split(MASKS[s]! << 1n));
    assert.deepEqual([p.maskLLsLo, p.maskLLsHi], split(MASKS[l]! << 1n));
  };
  check({ min: 64, avg: 256, max: 1024 }, 9, 7);
  check({ min: 8192, avg: 16384, max: 32768 }, 15, 13);
  check({ min: 1_048_576, avg: 4_194_304, max: 16_777_216 }, 23, 21);
  check({ min: 64, avg: 256, max: 1024, normalization: 3 }, 11, 5);
  check({ min: 64, avg: 4_194_304, max: 16_777_216, normalization: 3 }, 25, 19);
  check({ min: 64, avg: 1500, max: 4096, normalization: 0 }, 11, 11); // log2 10.55 rounds up
  check({ min: 64, avg: 12288, max: 65536 }, 15, 13); // log2 13.58 rounds up
  check({ min: 64, avg: 1100, max: 4096, normalization: 0 }, 10, 10); // log2 10.10 rounds down
});

for (const [name, opts, expected] of SEKIEN_CASES) {
  test(`SekienAkashita.jpg ${name}: the crate's cut points, and its hashes via the u64 reference`, () => {
    let offset = 0;
    const want = expected.map(([, len]) => { const s: [number, number] = [offset, len]; offset += len; return s; });
    assert.equal(offset, SEKIEN.length);
    assert.deepEqual(spans(chunkBuffer(SEKIEN, opts)), want);
    assert.deepEqual(referenceChunks(SEKIEN, opts), expected.map(([h], i) => [h, want[i]![0], want[i]![1]]));
    const p = cutParams(opts);
    for (const [start, len] of want) assert.equal(findCut(SEKIEN, start, SEKIEN.length, p), start + len);
  });
}

test('SekienAkashita.jpg 16k: chunk data has the crate\'s BLAKE3 digests, whole and streamed', async () => {
  const opts = SEKIEN_CASES[0]![1];
  assert.deepEqual(chunkBuffer(SEKIEN, opts).map((c) => toHex(blake3(c.data))), SEKIEN_16K_BLAKE3);
  assert.deepEqual(streamed(SEKIEN, opts, () => 1000).map((c) => toHex(blake3(c.data))), SEKIEN_16K_BLAKE3);
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < SEKIEN.length; i += 8192) yield SEKIEN.subarray(i, i + 8192);
  }
  const got: string[] = [];
  for await (const c of chunkStream(pieces(), opts)) got.push(toHex(blake3(c.data)));
  assert.deepEqual(got, SEKIEN_16K_BLAKE3);
});

test('all zeros: max-size chunks with the crate\'s hash, then the rest', () => {
  const opts = { min: 64, avg: 256, max: 1024 };
  const zeros = new Uint8Array(10240);
  const ref = referenceChunks(zeros, opts);
  assert.equal(ref.length, 10);
  for (const [hash, , len] of ref) {
    assert.equal(hash, 14169102344523991076n);
    assert.equal(len, 1024);
  }
  assert.deepEqual(spans(chunkBuffer(zeros, opts)), ref.map(([, o, l]) => [o, l]));
  const more = new Uint8Array(10240 + 500);
  assert.deepEqual(spans(chunkBuffer(more, opts)).at(-1), [10240, 500]);
  assert.deepEqual(spans(streamed(more, opts, () => 333)), spans(chunkBuffer(more, opts)));
});

test('fast cut matches the u64 reference on pseudo-random data, all levels, odd and uneven sizes', () => {
  const data = pseudoRandom(300_000, 7);
  const cases: ChunkerOptions[] = [
    { min: 64, avg: 256, max: 1024 },
    { min: 65, avg: 300, max: 1025 },
    { min: 2048, avg: 12288, max: 40001 },
    { min: 16384, avg: 65536, max: 262144 },
    { min: 1024, avg: 1024, max: 1024 },
  ];
  for (const base of cases) {
    for (const normalization of [0, 1, 2, 3] as const) {
      const o = { ...base, normalization };
      const want = referenceChunks(data, o).map(([, off, len]) => [off, len]);
      assert.deepEqual(spans(chunkBuffer(data, o)), want, JSON.stringify(o));
    }
  }
});

test('streaming in pieces of 1, 7, 4096, random sizes and one whole piece equals whole-buffer chunking', () => {
  const rnd = pseudoRandom(1000, 3);
  const inputs: Array<[string, Uint8Array, ChunkerOptions]> = [
    ['sekien 16k', SEKIEN, SEKIEN_CASES[0]![1]],
    ['sekien nc3', SEKIEN, SEKIEN_CASES[4]![1]],
    ['random small', pseudoRandom(200_000, 11), { min: 64, avg: 256, max: 1024 }],
    ['random odd', pseudoRandom(200_000, 12), { min: 65, avg: 999, max: 4097, normalization: 2 }],
    ['random default', pseudoRandom(1_500_000, 13), DEFAULT_CHUNKER],
    ['zeros', new Uint8Array(100_000), { min: 64, avg: 256, max: 1024 }],
  ];
  for (const [name, buf, o] of inputs) {
    const whole = chunkBuffer(buf, o);
    const sizes: Array<[string, (i: number) => number]> = [
      ['1', () => 1], ['7', () => 7], ['4096', () => 4096], ['whole', () => buf.length],
      ['random', (i) => 1 + ((rnd[i % 1000]! * 977 + i * 131) % (2 * o.max))],
      ['max-ish', (i) => o.max + (i % 3) - 1],
    ];
    for (const [what, size] of sizes) {
      if (what === '1' && buf.length > 300_000) continue; // slow, and 7 covers the same paths
      assertSameChunks(streamed(buf, o, size), whole, `${name}, pieces ${what}`);
    }
  }
});

test('a cut on the last byte carried over from an earlier piece leaves a carried tail that is still cut', () => {
  // The piece boundary splits a byte pair: the carried chunk ends with an unpaired byte,
  // and the cut lands right before it. The rest of the carry, that byte plus the new
  // piece, is itself longer than a chunk and must be cut before the input ends.
  const o = { min: 64, avg: 256, max: 1024 };
  const data = pseudoRandom(100_000, 21);
  const whole = chunkBuffer(data, o);
  let hits = 0;
  for (let i = 0; i + 3 < whole.length && hits < 20; i++) {
    const { offset, length } = whole[i]!;
    const split = offset + length + 1;
    const end = offset + o.max; // the second piece fits in the carry without a forced cut
    if (length % 2 !== 0 || whole[i + 1]!.offset + whole[i + 1]!.length >= end) continue;
    const input = data.subarray(0, end);
    const want = chunkBuffer(input, o);
    const chunker = new FastCdcChunker(o);
    const got = [...chunker.push(input.slice(0, split)), ...chunker.push(input.slice(split))];
    assert.ok(got.length >= i + 2, 'the carried tail is cut by push, not left for finish');
    got.push(...chunker.finish());
    assertSameChunks(got, want, `split at ${split}`);
    hits++;
  }
  assert.ok(hits > 0, 'no case found');
});

test('chunks inside one piece are views of it, not copies', () => {
  const o = { min: 64, avg: 256, max: 1024 };
  const a = pseudoRandom(50_000, 31);
  const b = pseudoRandom(50_000, 32);
  const chunker = new FastCdcChunker(o);
  const first = chunker.push(a);
  assert.ok(first.length > 10);
  for (const c of first) assert.equal(c.data.buffer, a.buffer);
  const second = chunker.push(b);
  // Only the chunk spanning the boundary is gathered; after it, views of b again.
  assert.notEqual(second[0]!.data.buffer, b.buffer);
  for (const c of second.slice(1)) assert.equal(c.data.buffer, b.buffer);
});

test('chunks stay within min..max except the last; they tile the input', () => {
  const data = pseudoRandom(2_000_000, 5);
  for (const normalization of [0, 1, 2, 3] as const) {
    const o = { min: 4096, avg: 16384, max: 32768, normalization };
    const cs = chunkBuffer(data, o);
    let next = 0;
    cs.forEach((c, i) => {
      assert.equal(c.offset, next);
      next += c.length;
      assert.ok(c.length <= o.max, `chunk ${i} length ${c.length} > max`);
      if (i < cs.length - 1) assert.ok(c.length >= o.min, `chunk ${i} length ${c.length} < min`);
    });
    assert.equal(next, data.length);
  }
});

test('input no longer than min is one chunk; empty input has none', async () => {
  const o = { min: 4096, avg: 16384, max: 65536 };
  for (const len of [1, 100, 4095, 4096]) {
    const buf = pseudoRandom(len, len);
    assert.deepEqual(spans(chunkBuffer(buf, o)), [[0, len]]);
    assert.deepEqual(spans(streamed(buf, o, () => 7)), [[0, len]]);
  }
  assert.deepEqual(chunkBuffer(new Uint8Array(0), o), []);
  const chunker = new FastCdcChunker(o);
  assert.deepEqual(chunker.push(new Uint8Array(0)), []);
  assert.deepEqual(chunker.finish(), []);
  async function* nothing(): AsyncGenerator<Uint8Array> { /* empty */ }
  for await (const c of chunkStream(nothing(), o)) assert.fail(`unexpected chunk ${c.offset}`);
});

test('invalid options are rejected with INVALID_INPUT', () => {
  const bad: Array<Record<string, unknown>> = [
    // The crate's should_panic cases.
    { min: 63, avg: 256, max: 1024 },
    { min: 67_108_867, avg: 256, max: 1024 },
    { min: 64, avg: 255, max: 1024 },
    { min: 64, avg: 268_435_457, max: 1024 },
    { min: 64, avg: 256, max: 1023 },
    { min: 64, avg: 256, max: 1_073_741_825 },
    // Ours: crate bounds just past each edge, non-integers, order, level.
    { min: 1_048_577, avg: 4_194_304, max: 16_777_216 },
    { min: 64, avg: 4_194_305, max: 16_777_216 },
    { min: 64, avg: 256, max: 16_777_217 },
    { min: 64.5, avg: 256, max: 1024 },
    { min: Number.NaN, avg: 256, max: 1024 },
    { min: '64', avg: 256, max: 1024 },
    { min: 2048, avg: 1024, max: 4096 },
    { min: 64, avg: 4096, max: 2048 },
    { min: 64, avg: 256, max: 1024, normalization: 4 },
    { min: 64, avg: 256, max: 1024, normalization: -1 },
  ];
  for (const o of bad) {
    const opts = o as unknown as ChunkerOptions;
    assert.throws(() => cutParams(opts), { code: 'INVALID_INPUT' }, JSON.stringify(o));
    assert.throws(() => new FastCdcChunker(opts), { code: 'INVALID_INPUT' });
    assert.throws(() => chunkBuffer(new Uint8Array(10), opts), { code: 'INVALID_INPUT' });
  }
  assert.doesNotThrow(() => cutParams({ min: 64, avg: 256, max: 1024 }));
  assert.doesNotThrow(() => cutParams({ min: 1_048_576, avg: 4_194_304, max: 16_777_216, normalization: 0 }));
});

test('the JavaScript cut loop (CASTOR_FASTCDC_JS=1, the fallback where WebAssembly is missing) cuts where the wasm scan does', async () => {
  const { spawnSync } = await import('node:child_process');
  const { pathToFileURL } = await import('node:url');
  // Pseudo-random bytes both processes make alike, chunked whole and streamed in uneven pieces.
  const script = (fastcdc: string): string => `
    const { chunkBuffer, FastCdcChunker } = await import(${JSON.stringify(fastcdc)});
    const data = new Uint8Array(3 << 20);
    let x = 2463534242;
    for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 255; }
    const out = [];
    for (const o of [{ min: 16384, avg: 65536, max: 262144 }, { min: 64, avg: 256, max: 1024, normalization: 3 }, { min: 2048, avg: 8192, max: 16384, normalization: 0 }]) {
      out.push(chunkBuffer(data, o).map((c) => c.length));
      const ch = new FastCdcChunker(o);
      const lens = [];
      for (let p = 0, k = 1; p < data.length; p += k, k = (k * 7 + 3) % 100003 + 1) for (const c of ch.push(data.subarray(p, p + k))) lens.push(c.length);
      for (const c of ch.finish()) lens.push(c.length);
      out.push(lens);
    }
    console.log(JSON.stringify(out));`;
  const url = pathToFileURL(path.resolve(here, '../../../src/store/chunking/fastcdc.js')).href;
  const run = (env: Record<string, string>): string => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(url)], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const js = run({ CASTOR_FASTCDC_JS: '1' });
  assert.ok(js.length > 100);
  assert.equal(run({ CASTOR_FASTCDC_JS: '' }), js);
});
