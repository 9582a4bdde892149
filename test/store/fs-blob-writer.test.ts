// FsBlobWriter's pipeline: chunks staged concurrently while the caller reuses its buffers,
// a durable blob of many chunks made durable by one syncfs (or, without `sync -f`, by an
// fsync each), newBytes, and a staging failure that surfaces after its write resolved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blake3, toHex } from '../../src/verify/blake3/index.js';
import { outboardOf } from '../../src/verify/bao/index.js';
import { verifyOutboard, VerifiedOutboard } from '../../src/verify/bao/verify-outboard.js';
import { CastorError } from '../../src/verify/errors.js';
import type { Digest } from '../../src/store/blob-service.js';
import { asDigest } from '../../src/store/digest.js';
import { FsBlobService, type FsBlobServiceOptions } from '../../src/store/fs-blob-service.js';
import type { FsBlobWriter } from '../../src/store/fs-blob-writer.js';
import { checkStored } from './blob-service-suite.js';
import { randomBytes, SMALL_CHUNKS } from './blob-data.js';

async function withStore(options: FsBlobServiceOptions, body: (s: FsBlobService) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-fs-writer-'));
  try {
    await body(await FsBlobService.open(dir, options));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `data` through one scratch buffer of `piece` bytes, scribbled over as soon as each write resolves. */
async function putReusing(s: FsBlobService, data: Uint8Array, piece: number): Promise<{ digest: Digest; newBytes: number | undefined }> {
  const w = s.openWriter() as FsBlobWriter;
  const scratch = new Uint8Array(piece);
  for (let pos = 0; pos < data.length; pos += piece) {
    const n = Math.min(piece, data.length - pos);
    scratch.set(data.subarray(pos, pos + n));
    await w.write(scratch.subarray(0, n));
    scratch.fill(0xa5);
  }
  const digest = await w.close();
  return { digest, newBytes: w.newBytes };
}

for (const durable of [true, false]) {
  test(`many chunks in flight (durable: ${durable}): buffers reused at once, blob whole, newBytes, dedup`, () => withStore({ chunker: SMALL_CHUNKS, durable }, async (s) => {
    // About 1500 chunks of 4 KiB: past the per-chunk fsync limit, so a durable close syncs the file system.
    const data = randomBytes(6 << 20, 61);
    const first = await putReusing(s, data, 1 << 20);
    assert.equal(toHex(first.digest), toHex(blake3(data)));
    await checkStored(s, first.digest, data);
    assert.equal(first.newBytes, data.length, 'random data: every chunk new');
    const again = await putReusing(s, data, 100_000);
    assert.equal(toHex(again.digest), toHex(first.digest));
    assert.equal(again.newBytes, 0, 'every chunk already stored');
    assert.deepEqual(await readdir(s.layout.tmp), []);
  }));
}

test('without a usable `sync -f` a durable writer fsyncs each file instead', () => withStore({ chunker: SMALL_CHUNKS }, async (s) => {
  const saved = process.env.PATH;
  process.env.PATH = path.join(s.layout.root, 'no-such-bin');
  try {
    const data = randomBytes(3 << 20, 62);
    const { digest, newBytes } = await putReusing(s, data, 1 << 20);
    await checkStored(s, digest, data);
    assert.equal(newBytes, data.length);
  } finally {
    process.env.PATH = saved;
  }
  assert.deepEqual(await readdir(s.layout.tmp), []);
}));

test('a chunk that fails to stage after its write resolved fails close: nothing published, nothing left', () => withStore({ chunker: SMALL_CHUNKS, durable: false }, async (s) => {
  const data = randomBytes(4 << 20, 63);
  const w = s.openWriter();
  await w.write(data.subarray(0, 1 << 20));
  const [staging] = await readdir(s.layout.tmp);
  assert.ok(staging, 'the staging dir exists once data was taken');
  // Pulled away under the writer: staging the next chunks (or renaming the first) fails.
  await rm(path.join(s.layout.tmp, staging), { recursive: true, force: true, maxRetries: 5 });
  let failure: unknown;
  try {
    await w.write(data.subarray(1 << 20));
    await w.close();
  } catch (err: unknown) {
    failure = err;
  }
  assert.ok(failure instanceof Error && 'code' in failure, `a typed store error, got ${String(failure)}`);
  await assert.rejects(w.close(), { code: 'WRITER_CLOSED' });
  assert.equal(await s.has(asDigest(blake3(data))), false);
  assert.deepEqual(await readdir(s.layout.tmp), []);
  assert.deepEqual(await readdir(s.layout.blobs), []);
}));

/** The outboard of `data`, verified against its digest, as a fetch's partial holds it. */
function verifiedOf(data: Uint8Array): VerifiedOutboard {
  const ob = outboardOf(data, 4);
  return verifyOutboard(ob.hash, data.length, ob.outboard, 4);
}

/** Writes `data` in `piece`-byte writes through a writer told `verified`; resolves to the digest or the error code. */
async function putTold(s: FsBlobService, data: Uint8Array, verified: VerifiedOutboard, piece = 100_000): Promise<Digest | string> {
  const w = s.openWriter({ verified });
  try {
    for (let pos = 0; pos < data.length; pos += piece) await w.write(data.subarray(pos, Math.min(data.length, pos + piece)));
    return await w.close();
  } catch (err: unknown) {
    await w.abort();
    return err instanceof CastorError ? err.code : String(err);
  }
}

test('a writer told a verified outboard stores the same record as one that hashes, for every size shape and write size', () => withStore({ chunker: SMALL_CHUNKS }, async (s) => {
  const G = 16384;
  for (const [len, piece] of [[0, 1], [1, 1], [G, 1000], [G + 1, G], [64 * G, 5000], [64 * G + 1, 7 * G], [130 * G - 7, 100_000]] as const) {
    const data = randomBytes(len, 70 + len % 97);
    const digest = await putTold(s, data, verifiedOf(data), piece);
    assert.equal(typeof digest, 'object', `${len} bytes in ${piece}-byte writes: ${String(digest)}`);
    await checkStored(s, digest as Digest, data);
  }
  assert.deepEqual(await readdir(s.layout.tmp), []);
}));

test('a writer told a wrong digest or outboard publishes no record: another blob\'s outboard, a forged one, a wrong length', () => withStore({ chunker: SMALL_CHUNKS }, async (s) => {
  const G = 16384;
  const data = randomBytes(200 * G + 5, 80);
  const other = randomBytes(data.length, 81);
  const otherTree = verifiedOf(other);
  const noRecord = async (): Promise<void> => {
    for (const d of [asDigest(blake3(data)), asDigest(blake3(other))]) assert.equal(await s.has(d), false);
    assert.deepEqual(await readdir(s.layout.tmp), [], 'the staging dir is gone');
  };
  // Another blob's outboard (it verifies against that blob's digest) with these bytes: the first group is sampled.
  assert.equal(await putTold(s, data, otherTree), 'HASH_MISMATCH');
  await noRecord();
  // Only a later sampled group differs (group 128 of 200).
  const late = other.slice();
  late.set(data.subarray(0, 128 * G));
  assert.equal(await putTold(s, data, verifiedOf(late)), 'HASH_MISMATCH');
  await noRecord();
  // Only the last group differs.
  const tail = data.slice();
  tail[tail.length - 1]! ^= 1;
  assert.equal(await putTold(s, data, verifiedOf(tail)), 'HASH_MISMATCH');
  await noRecord();
  // A VerifiedOutboard made by hand, claiming this content's digest for the other's outboard: the parents are checked again.
  const forged = new VerifiedOutboard(blake3(data), data.length, 4, otherTree.outboard);
  assert.equal(await putTold(s, data, forged), 'HASH_MISMATCH');
  await noRecord();
  // The right outboard, but content cut short or run long.
  assert.equal(await putTold(s, data.subarray(0, data.length - 1), verifiedOf(data)), 'LENGTH_MISMATCH');
  const longer = new Uint8Array(data.length + 1);
  longer.set(data);
  assert.equal(await putTold(s, longer, verifiedOf(data)), 'LENGTH_MISMATCH');
  await noRecord();
}));

test('told a verified outboard, a byte changed in a group that is not sampled is not caught at close; reading the blob catches it', () => withStore({ chunker: SMALL_CHUNKS }, async (s) => {
  // The limit of the sampled check, stated: the option is for bytes a decoder verified.
  const G = 16384;
  const data = randomBytes(100 * G, 90);
  const changed = data.slice();
  changed[5 * G + 17]! ^= 1;
  const digest = await putTold(s, changed, verifiedOf(data));
  assert.equal(typeof digest, 'object');
  let code: string | undefined;
  try {
    for await (const piece of (await s.read(digest as Digest))!) void piece;
  } catch (err: unknown) {
    code = err instanceof CastorError ? err.code : String(err);
  }
  // The chunks hash to their names; it is the record's outboard that is not theirs.
  assert.equal(code, 'CORRUPT_RECORD', 'the read refuses the group instead of yielding it');
}));

test('a writer told of a large blob hashes its tree on the tree-hashing thread, to the same digest and outboard', async () => {
  await withStore({ durable: false }, async (s) => {
    const data = randomBytes((9 << 20) + 12345, 77);
    const results: { digest: string; outboard: string }[] = [];
    for (const sizeHint of [undefined, data.length]) {
      const w = s.openWriter({ sizeHint });
      // Pieces scribbled over once written: the remote hasher must have taken its copy.
      const scratch = new Uint8Array(300_000);
      for (let pos = 0; pos < data.length; pos += scratch.length) {
        const n = Math.min(scratch.length, data.length - pos);
        scratch.set(data.subarray(pos, pos + n));
        await w.write(scratch.subarray(0, n));
        scratch.fill(0x5a);
      }
      const digest = await w.close();
      const st = (await s.stat(digest))!;
      results.push({ digest: toHex(digest), outboard: toHex(blake3(st.outboard)) });
    }
    assert.equal(results[0]!.digest, toHex(blake3(data)));
    assert.deepEqual(results[1], results[0]);
    assert.equal(results[0]!.outboard, toHex(blake3(outboardOf(data, 4).outboard)));
  });
});
