// RemoteHasher made with onPieces, through an in-process channel to handleTreeHash and
// through the store's tree-hashing thread: each piece comes back once, in order, with its
// own BLAKE3 digest, the deliveries tile the stream, and the tree result is a plain
// Hasher's; misuse is refused, and a disposed hasher hears of nothing more.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake3, HashClient, Hasher, handleTreeHash, PIECE_MAX, RemoteHasher, toHex, type RemoteHashResult } from '../../src/verify/blake3/index.js';
import type { ReplyPort } from '../../src/verify/blake3/tree-hash-worker.js';
import { treeHashes } from '../../src/store/disk/tree-hash-thread.js';
import { randomBytes } from '../store/blob-data.js';

const GROUP_LOG = 4;

/**
 * A HashClient whose channel hands each message to handleTreeHash in this thread, and each
 * reply back, a turn later, as a worker's messages arrive; `busy` is what it was told.
 */
function localClient(): { client: HashClient; busy: boolean[] } {
  const busy: boolean[] = [];
  const port: ReplyPort = { postMessage: (reply) => setImmediate(() => client.onReply(reply)) };
  const client = new HashClient({
    post: (msg) => setImmediate(() => handleTreeHash(msg, port)),
    busy: (b) => busy.push(b),
  });
  return { client, busy };
}

const channels: [string, () => HashClient][] = [
  ['in-process channel', () => localClient().client],
  ['tree-hashing thread', () => treeHashes()],
];

/** One delivery to onPieces, copied (its bytes are only valid during the call). */
interface Delivery {
  bytes: Uint8Array;
  lengths: number[];
  digests: Uint8Array;
}

function recorder(): { deliveries: Delivery[]; onPieces: (bytes: Uint8Array, lengths: readonly number[], digests: Uint8Array) => void } {
  const deliveries: Delivery[] = [];
  return { deliveries, onPieces: (bytes, lengths, digests) => deliveries.push({ bytes: bytes.slice(), lengths: [...lengths], digests: digests.slice() }) };
}

/** Feeds `pieces` through one scratch buffer scribbled over once each updatePiece resolves. */
async function feed(h: RemoteHasher, pieces: readonly Uint8Array[]): Promise<void> {
  const scratch = new Uint8Array(PIECE_MAX);
  for (const p of pieces) {
    scratch.set(p);
    await h.updatePiece(scratch.subarray(0, p.length));
    scratch.fill(0xa5, 0, p.length);
  }
}

function plainHash(pieces: readonly Uint8Array[]): RemoteHashResult {
  const h = new Hasher({ groupLog: GROUP_LOG });
  for (const p of pieces) h.update(p);
  return h.finalize();
}

/** Checks the deliveries against `pieces`: each non-empty piece once, in order, with its digest, tiling the stream. */
function checkDeliveries(deliveries: readonly Delivery[], pieces: readonly Uint8Array[]): void {
  const given = pieces.filter((p) => p.length > 0);
  let i = 0;
  for (const d of deliveries) {
    assert.ok(d.lengths.length > 0, 'no delivery without pieces');
    assert.equal(d.digests.length, 32 * d.lengths.length, 'a digest per piece');
    assert.equal(d.bytes.length, d.lengths.reduce((a, b) => a + b, 0), 'the pieces tile the bytes delivered');
    assert.ok(d.bytes.length <= PIECE_MAX, 'a delivery is one buffer');
    let at = 0;
    d.lengths.forEach((n, k) => {
      const piece = given[i++];
      assert.ok(piece !== undefined, 'no more pieces delivered than given');
      assert.equal(n, piece.length, `piece ${i - 1}: length`);
      assert.ok(Buffer.from(d.bytes.subarray(at, at + n)).equals(Buffer.from(piece)), `piece ${i - 1}: bytes (a copy taken before the caller reused its buffer)`);
      assert.equal(toHex(d.digests.subarray(32 * k, 32 * k + 32)), toHex(blake3(piece)), `piece ${i - 1}: digest`);
      at += n;
    });
  }
  assert.equal(i, given.length, 'every piece delivered');
}

/** Pieces of `sizes`, random bytes each. */
function piecesOf(sizes: readonly number[], seed: number): Uint8Array[] {
  return sizes.map((n, i) => randomBytes(n, seed + i));
}

const SHAPES: [string, number[]][] = [
  ['none', []],
  ['one byte', [1]],
  ['edge sizes: a whole buffer, one byte short, pieces that do not fit what is left, an empty one', [1, 1000, 16384, 16385, PIECE_MAX, 3, PIECE_MAX - 1, 2, 0, 700_000, 700_000, 1024 * 1024 - 5, 5, 17]],
  // About 6 MiB in chunk-sized pieces: more buffers than the pool has (4), so they are reused.
  ['chunk-sized pieces past the buffer pool', Array.from({ length: 800 }, (_, i) => 1024 + ((i * 7919) % 15361))],
];

for (const [name, client] of channels) {
  test(`${name}: digests of each piece, in order, tiling the stream; the tree is a plain Hasher's`, async () => {
    for (const [shape, sizes] of SHAPES) {
      const pieces = piecesOf(sizes, 100);
      const { deliveries, onPieces } = recorder();
      const h = new RemoteHasher(client(), { groupLog: GROUP_LOG, onPieces });
      await feed(h, pieces);
      const r = await h.finalize();
      // Every piece has been handed over once finalize resolves.
      checkDeliveries(deliveries, pieces);
      const plain = plainHash(pieces);
      assert.equal(toHex(r.hash), toHex(plain.hash), `${shape}: hash`);
      assert.equal(r.length, plain.length, `${shape}: length`);
      assert.equal(toHex(r.nodes!), toHex(plain.nodes!), `${shape}: outboard nodes`);
    }
  });

  test(`${name}: two hashers on one client interleaved each hear only of their own pieces`, async () => {
    const c = client();
    const a = piecesOf(Array.from({ length: 300 }, (_, i) => 2000 + ((i * 31) % 9000)), 200);
    const b = piecesOf(Array.from({ length: 300 }, (_, i) => 3000 + ((i * 17) % 13000)), 900);
    const ra = recorder();
    const rb = recorder();
    const ha = new RemoteHasher(c, { groupLog: GROUP_LOG, onPieces: ra.onPieces });
    const hb = new RemoteHasher(c, { groupLog: GROUP_LOG, onPieces: rb.onPieces });
    for (let i = 0; i < a.length; i++) {
      await ha.updatePiece(a[i]!);
      await hb.updatePiece(b[i]!);
    }
    const [resA, resB] = await Promise.all([ha.finalize(), hb.finalize()]);
    checkDeliveries(ra.deliveries, a);
    checkDeliveries(rb.deliveries, b);
    assert.equal(toHex(resA.hash), toHex(plainHash(a).hash));
    assert.equal(toHex(resB.hash), toHex(plainHash(b).hash));
  });

  test(`${name}: update() on a pieces hasher, updatePiece() on a plain one, and a piece over PIECE_MAX are refused`, async () => {
    const c = client();
    const pieces = piecesOf([5000, 6000], 300);
    const { deliveries, onPieces } = recorder();
    const h = new RemoteHasher(c, { groupLog: GROUP_LOG, onPieces });
    await assert.rejects(h.update(pieces[0]!), /takes whole pieces \(updatePiece\)/);
    await h.updatePiece(pieces[0]!);
    await assert.rejects(h.updatePiece(new Uint8Array(PIECE_MAX + 1)), RangeError);
    // A refusal changes nothing: the stream goes on as if it had not been asked.
    await h.updatePiece(pieces[1]!);
    const r = await h.finalize();
    checkDeliveries(deliveries, pieces);
    assert.equal(toHex(r.hash), toHex(plainHash(pieces).hash));
    await assert.rejects(h.updatePiece(pieces[0]!), /after finalize/);
    await assert.rejects(h.finalize(), /called twice/);

    const plain = new RemoteHasher(c, { groupLog: GROUP_LOG });
    await assert.rejects(plain.updatePiece(pieces[0]!), /needs a hasher made with onPieces/);
    plain.dispose();
  });

  test(`${name}: a disposed hasher hears of no more pieces, and the buffers it had out come back`, async () => {
    const c = client();
    const { deliveries, onPieces } = recorder();
    const h = new RemoteHasher(c, { groupLog: GROUP_LOG, onPieces });
    // Three buffers' worth sent, most of them not back yet when dispose is called.
    await feed(h, piecesOf(Array.from({ length: 200 }, () => 16384), 400));
    const heard = deliveries.length;
    assert.ok(heard < 4, `${heard} of 4 buffers delivered before dispose: some must still be out for this to test anything`);
    h.dispose();
    await assert.rejects(h.updatePiece(new Uint8Array(1)), /after finalize/);
    // Another stream on the same client, past the pool's 4 MiB: it completes only if the
    // disposed stream's buffers came back, and it ends after their replies (they are in order).
    const next = recorder();
    const pieces = piecesOf(Array.from({ length: 400 }, () => 16384), 700);
    const h2 = new RemoteHasher(c, { groupLog: GROUP_LOG, onPieces: next.onPieces });
    await feed(h2, pieces);
    const r = await h2.finalize();
    assert.equal(deliveries.length, heard, 'nothing delivered after dispose');
    checkDeliveries(next.deliveries, pieces);
    assert.equal(toHex(r.hash), toHex(plainHash(pieces).hash));
  });
}

test('in-process channel: busy while work is out, idle once the result is in', async () => {
  const { client, busy } = localClient();
  const { onPieces } = recorder();
  const h = new RemoteHasher(client, { groupLog: GROUP_LOG, onPieces });
  await feed(h, piecesOf([PIECE_MAX, PIECE_MAX, 10], 500));
  assert.equal(busy.at(-1), true);
  await h.finalize();
  assert.equal(busy.at(-1), false);
});

test('a stream whose hashing thread was lost part way fails with HASH_WORKER instead of hashing only its tail on the next thread', async () => {
  const { client } = localClient();
  for (const pieces of [false, true]) {
    const h = pieces ? new RemoteHasher(client, { groupLog: GROUP_LOG, onPieces: () => undefined }) : new RemoteHasher(client, { groupLog: GROUP_LOG });
    const data = randomBytes(PIECE_MAX, 90);
    // A full buffer goes to the worker: the stream now has state there.
    if (pieces) await feed(h, [data, data.subarray(0, 10)]);
    else await h.update(Uint8Array.from([...data, 1, 2, 3]));
    client.onLost(new Error('worker gone'));
    await assert.rejects(h.finalize(), { code: 'HASH_WORKER' });
  }
  // A stream begun after the loss is hashed whole on the new thread.
  const fresh = new RemoteHasher(client, { groupLog: GROUP_LOG });
  const data = randomBytes(3 * PIECE_MAX + 5, 91);
  await fresh.update(data);
  assert.equal(toHex((await fresh.finalize()).hash), toHex(blake3(data)));
});
