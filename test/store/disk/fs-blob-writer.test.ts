// FsBlobWriter's pipeline: chunks appended to this thread's pack while the caller reuses
// its buffers, newBytes, a durable blob made durable by one fsync of the pack before its
// record is published, and an append that fails (on the caller's thread, or after its
// write resolved for a blob whose chunks are hashed on the tree-hashing thread).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, fstatSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { blake3, toHex } from '../../../src/verify/blake3/index.js';
import { outboardOf } from '../../../src/verify/bao/index.js';
import { verifyOutboard, VerifiedOutboard } from '../../../src/verify/bao/verify-outboard.js';
import { CastorError } from '../../../src/verify/errors.js';
import type { Digest } from '../../../src/store/blob-service.js';
import { asDigest } from '../../../src/store/digest.js';
import { FsBlobService, type FsBlobServiceOptions } from '../../../src/store/disk/fs-blob-service.js';
import type { FsBlobWriter } from '../../../src/store/disk/fs-blob-writer.js';
import { listPacks, packIndex, readPackView } from '../../../src/store/disk/packs/pack-index.js';
import { checkStored } from '../blob-service-suite.js';
import { randomBytes, SMALL_CHUNKS } from '../blob-data.js';

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

/** Bytes and number of the entries in packs/ as a reader that looks afresh counts them, and whether every pack ends at its last whole entry. */
function packed(s: FsBlobService): { bytes: number; entries: number; whole: boolean } {
  let bytes = 0;
  let entries = 0;
  let whole = true;
  for (const pack of listPacks(s.layout.packs)) {
    const view = readPackView(pack, true)!;
    for (const e of view.entries) bytes += e.size;
    entries += view.entries.length;
    whole &&= view.scanned === view.size;
  }
  return { bytes, entries, whole };
}

/** Every entry in packs/ hashes to the digest it is kept under. */
function packsVerify(s: FsBlobService): void {
  for (const pack of listPacks(s.layout.packs)) {
    const file = readFileSync(pack);
    for (const e of readPackView(pack, true)!.entries) assert.equal(toHex(blake3(file.subarray(e.offset, e.offset + e.size))), e.hex, `entry at ${e.offset} of ${pack}`);
  }
}

for (const durable of [true, false]) {
  test(`many chunks in flight (durable: ${durable}): buffers reused at once, blob whole, newBytes, dedup`, () => withStore({ chunker: SMALL_CHUNKS, durable }, async (s) => {
    // About 1500 chunks of 4 KiB, appended to this thread's pack.
    const data = randomBytes(6 << 20, 61);
    const first = await putReusing(s, data, 1 << 20);
    assert.equal(toHex(first.digest), toHex(blake3(data)));
    await checkStored(s, first.digest, data);
    assert.equal(first.newBytes, data.length, 'random data: every chunk new');
    assert.deepEqual(packed(s), { bytes: data.length, entries: (await s.stat(first.digest))!.chunks.length, whole: true }, 'each chunk packed once, as written (not the scribbled buffer)');
    packsVerify(s);
    const again = await putReusing(s, data, 100_000);
    assert.equal(toHex(again.digest), toHex(first.digest));
    assert.equal(again.newBytes, 0, 'every chunk already stored');
    assert.equal(packed(s).bytes, data.length);
    assert.deepEqual(await readdir(s.layout.tmp), []);
  }));
}

/** Replaces fs.`name` (as the store's named imports of node:fs see it) with `fake` until the returned function is called. */
function patchFs<K extends 'fsyncSync' | 'writevSync' | 'writeSync'>(name: K, fake: (real: typeof fs[K]) => typeof fs[K]): () => void {
  const real = fs[name];
  fs[name] = fake(real);
  syncBuiltinESMExports();
  return () => {
    fs[name] = real;
    syncBuiltinESMExports();
  };
}

test('a durable writer fsyncs its pack once at close, after its last chunk and before its record is published; one not durable never', async () => {
  for (const durable of [true, false]) {
    await withStore({ chunker: SMALL_CHUNKS, durable }, async (s) => {
      const data = randomBytes(3 << 20, 62);
      const record = s.layout.blobPath(asDigest(blake3(data)));
      const synced: { ino: number; size: number; recordThere: boolean }[] = [];
      const restore = patchFs('fsyncSync', (real) => (fd) => {
        const st = fstatSync(fd);
        if (st.isFile()) synced.push({ ino: st.ino, size: st.size, recordThere: existsSync(record) });
        real(fd);
      });
      try {
        const { digest, newBytes } = await putReusing(s, data, 1 << 20);
        await checkStored(s, digest, data);
        assert.equal(newBytes, data.length);
      } finally {
        restore();
      }
      const [pack, ...others] = listPacks(s.layout.packs);
      assert.equal(others.length, 0);
      const st = statSync(pack!);
      const ofPack = synced.filter((x) => x.ino === st.ino);
      if (!durable) {
        assert.deepEqual(ofPack, [], 'not durable: no fsync of the pack');
        return;
      }
      // One when the pack is made (its magic), one at close for all ~700 chunks: not one a chunk.
      assert.ok(ofPack.length >= 1 && ofPack.length <= 2, `${ofPack.length} fsyncs of the pack`);
      const last = ofPack.at(-1)!;
      assert.equal(last.size, st.size, 'the last fsync covers every chunk appended');
      assert.equal(last.recordThere, false, 'and comes before the record is published');
    });
  }
});

test('a durable writer whose pack fsync fails at close publishes no record, and later durable writers fail too', () => withStore({ chunker: SMALL_CHUNKS, durable: true }, async (s) => {
  const data = randomBytes(1 << 20, 64);
  const w = s.openWriter();
  await w.write(data);
  const restore = patchFs('fsyncSync', () => () => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5, syscall: 'fsync' });
  });
  try {
    await assert.rejects(w.close(), (err: Error & { code?: string; path?: string }) => {
      assert.equal(err.code, 'STORE_IO');
      assert.ok(err.path?.startsWith(s.layout.packs), `names the pack: ${err.path}`);
      assert.match(err.message, /EIO/);
      return true;
    });
  } finally {
    restore();
  }
  assert.equal(await s.has(asDigest(blake3(data))), false);
  assert.deepEqual(await readdir(s.layout.blobs), []);
  assert.deepEqual(await readdir(s.layout.tmp), []);
  // Not retried: Linux reports a writeback error once per fd, so a second fsync could
  // succeed over bytes that never reached the disk. Every later durable close of this
  // thread's writer fails the same way and publishes nothing.
  await assert.rejects(putReusing(s, data, 1 << 18), { code: 'STORE_IO' });
  assert.deepEqual(await readdir(s.layout.blobs), [], 'still no record');
}));

// The pack cannot take the next chunk (the disk fills part way into its entry): on the
// caller's thread the write that cuts it fails; for a blob said to be large, the append
// happens when the chunk comes back from the tree-hashing thread, after its write resolved,
// and the next write or close fails. Either way: a typed error naming the pack, no record,
// nothing in tmp/, no torn entry a reader would count, and the writer's thread can store the
// blob once there is room, deduplicating against the chunks appended before the failure.
for (const sizeHint of [undefined, 9 << 20]) {
  test(`an append that fails (disk full part way into an entry, sizeHint ${sizeHint ?? 'none'}) fails the writer and leaves the pack whole`, () => withStore({ chunker: SMALL_CHUNKS, durable: false }, async (s) => {
    const data = randomBytes(sizeHint ?? 4 << 20, 63);
    const FAIL_AT = 200;
    let appends = 0;
    let full = false;
    const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    const restoreWritev = patchFs('writevSync', (real) => (fd, buffers, position) => {
      if (full) throw enospc();
      if (++appends < FAIL_AT) return real(fd, buffers, position);
      // A short write: the entry's head and half its bytes reach the pack, then the disk is full.
      full = true;
      const [head, bytes] = buffers as Uint8Array[];
      return real(fd, [head!, bytes!.subarray(0, bytes!.length >> 1)], position);
    });
    const restoreWrite = patchFs('writeSync', (real) => ((...args: Parameters<typeof fs.writeSync>) => {
      if (full) throw enospc();
      return (real as (...a: Parameters<typeof fs.writeSync>) => number)(...args);
    }) as typeof fs.writeSync);
    const w = s.openWriter({ sizeHint }) as FsBlobWriter;
    let failure: unknown;
    try {
      for (let at = 0; at < data.length && failure === undefined; at += 1 << 20) {
        await w.write(data.subarray(at, at + (1 << 20))).catch((err: unknown) => { failure = err; });
      }
      if (failure === undefined) await w.close().catch((err: unknown) => { failure = err; });
    } finally {
      restoreWrite();
      restoreWritev();
    }
    assert.ok(full, 'the fault was hit');
    assert.ok(failure instanceof Error, `the writer failed, got ${String(failure)}`);
    const f = failure as Error & { code?: string; path?: string };
    assert.equal(f.code, 'DISK_FULL');
    assert.ok(f.path?.startsWith(s.layout.packs), `names the pack: ${f.path}`);
    await assert.rejects(w.close(), { code: 'WRITER_CLOSED' });
    await assert.rejects(w.write(new Uint8Array(1)), { code: 'WRITER_CLOSED' });
    assert.equal(await s.has(asDigest(blake3(data))), false);
    assert.deepEqual(await readdir(s.layout.blobs), []);
    assert.deepEqual(await readdir(s.layout.tmp), []);
    // The short write was cut off again: the chunks before it, whole, and nothing after.
    const left = packed(s);
    assert.deepEqual({ entries: left.entries, whole: left.whole }, { entries: FAIL_AT - 1, whole: true });
    packsVerify(s);

    const again = await putReusing(s, data, 1 << 20);
    assert.equal(again.newBytes, data.length - left.bytes, 'the chunks appended before the failure are kept and not appended again');
    // What a reader that looks at packs/ afresh finds: every entry whole, the blob readable.
    packIndex(s.layout).reset();
    assert.deepEqual(packed(s), { bytes: data.length, entries: (await s.stat(again.digest))!.chunks.length, whole: true });
    packsVerify(s);
    await checkStored(s, again.digest, data);
  }));
}

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

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fs-store-child.js');

/** Another process puts SIZE random bytes (seed SEED, small chunks, not durable) into `dir`; its digest. */
function childPut(dir: string, size: number, seed: number): string {
  const r = spawnSync(process.execPath, [CHILD, 'put', dir, String(size), String(seed)], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('dedup sees chunks another process packed after this one loaded its map of the packs', () => withStore({ chunker: SMALL_CHUNKS, durable: false }, async (s) => {
  await putReusing(s, randomBytes(300_000, 70), 1 << 16);
  assert.ok(packIndex(s.layout).known('00'.repeat(32)) === undefined && packed(s).entries > 0, 'this thread has loaded its map');
  const data = randomBytes(2 << 20, 71);
  assert.equal(childPut(s.layout.root, data.length, 71), toHex(blake3(data)));
  const before = packed(s);
  // Past the refresh interval: a miss looks at packs/ again (a stat of the dir).
  await new Promise((r) => setTimeout(r, 150));
  const { digest, newBytes } = await putReusing(s, data, 1 << 16);
  assert.equal(newBytes, 0, 'every chunk was found in the other process\'s pack');
  assert.deepEqual(packed(s), before, 'nothing appended');
  await checkStored(s, digest, data);
}));

test('a durable writer that finds its chunks in a pack another process has not synced fsyncs that pack before publishing', () => withStore({ chunker: SMALL_CHUNKS, durable: true }, async (s) => {
  const theirData = randomBytes(1 << 20, 72);
  childPut(s.layout.root, theirData.length, 72);
  const [theirs] = listPacks(s.layout.packs);
  const theirIno = statSync(theirs!).ino;
  // A new blob: theirs with more after it, so most of its chunks are found in their pack.
  const data = new Uint8Array([...theirData, ...randomBytes(100_000, 73)]);
  const record = s.layout.blobPath(asDigest(blake3(data)));
  const synced: { ino: number; recordThere: boolean }[] = [];
  const restore = patchFs('fsyncSync', (real) => (fd) => {
    synced.push({ ino: fstatSync(fd).ino, recordThere: existsSync(record) });
    real(fd);
  });
  let newBytes: number | undefined;
  try {
    ({ newBytes } = await putReusing(s, data, 1 << 16));
  } finally {
    restore();
  }
  assert.ok(newBytes !== undefined && newBytes < 200_000, `only the tail is new (${newBytes} bytes)`);
  const theirs1 = synced.filter((x) => x.ino === theirIno);
  assert.equal(theirs1.length, 1, 'their pack fsynced once (once per pack and blob)');
  assert.equal(theirs1[0]!.recordThere, false, 'before the record was published');
  assert.ok(existsSync(record));
}));
