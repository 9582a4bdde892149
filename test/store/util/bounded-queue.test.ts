// The bounds under the disk writer's pipeline: TaskPool keeps at most `limit` tasks in
// flight and remembers the first failure; ByteRing hands out non-overlapping copies from
// one fixed buffer, waiting for room when it is full.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteRing, TaskPool, type RingCopy } from '../../../src/store/util/bounded-queue.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

test('TaskPool: at most limit tasks run, add waits for a slot, drain waits for all', async () => {
  const pool = new TaskPool(3);
  const gates = Array.from({ length: 7 }, deferred);
  let running = 0;
  let most = 0;
  const added: number[] = [];
  const producer = (async () => {
    for (const [i, g] of gates.entries()) {
      await pool.add(async () => {
        running++;
        most = Math.max(most, running);
        try { await g.promise; } finally { running--; }
      });
      added.push(i);
    }
  })();
  await tick();
  assert.deepEqual(added, [0, 1, 2], 'the fourth add waits');
  gates[1]!.resolve();
  await tick();
  assert.deepEqual(added, [0, 1, 2, 3]);
  for (const g of gates) g.resolve();
  await producer;
  await pool.drain();
  assert.equal(running, 0);
  assert.equal(most, 3);
  assert.equal(pool.failure, undefined);
  assert.throws(() => new TaskPool(0), RangeError);
});

test('TaskPool: the first failure is kept, later ones and sync throws too are contained', async () => {
  const pool = new TaskPool(2);
  await pool.add(async () => { await tick(); throw new Error('first'); });
  await pool.add(() => { throw new Error('sync'); });
  await pool.drain();
  assert.equal((pool.failure?.error as Error).message, 'sync', 'the synchronous throw settled first');
  const p2 = new TaskPool(1);
  await p2.add(async () => { throw undefined; });
  await p2.drain();
  assert.deepEqual(p2.failure, { error: undefined }, 'a thrown undefined still counts');
});

test('ByteRing: copies are independent of their source, wrap round, and wait for room', async () => {
  const ring = new ByteRing(100);
  const src = new Uint8Array(40).fill(1);
  const a = await ring.copy(src);
  src.fill(9);
  assert.deepEqual([...a.bytes], new Array(40).fill(1));
  const b = await ring.copy(new Uint8Array(40).fill(2));
  // 20 bytes left at the end and none at the start: a 30-byte copy waits.
  let c: RingCopy | undefined;
  const pending = ring.copy(new Uint8Array(30).fill(3)).then((x) => { c = x; });
  await tick();
  assert.equal(c, undefined);
  a.release();
  await pending;
  assert.equal(c!.bytes.byteOffset - b.bytes.byteOffset, -40, 'wrapped to the start');
  assert.deepEqual([...b.bytes], new Array(40).fill(2), 'the live copy is untouched');
  a.release(); // a second release does nothing
  b.release();
  c!.release();
  const big = await ring.copy(new Uint8Array(100).fill(4));
  assert.equal(big.bytes.length, 100, 'an empty ring takes a copy of its full size');
  big.release();
  await assert.rejects(ring.copy(new Uint8Array(101)), RangeError);
  assert.equal((await ring.copy(new Uint8Array(0))).bytes.length, 0);
});

test('ByteRing: live copies never overlap, whatever the sizes and release order', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.integer({ min: 1, max: 64 }), fc.nat(), fc.nat({ max: 3 })), { minLength: 1, maxLength: 60 }),
    async (ops) => {
      const ring = new ByteRing(64);
      const live: { copy: RingCopy; fill: number }[] = [];
      const releaseOne = (pick: number): void => live.splice(pick % live.length, 1)[0]!.copy.release();
      for (const [i, [len, pick, releases]] of ops.entries()) {
        for (let r = 0; r < releases && live.length > 0; r++) releaseOne(pick + r);
        const fill = (i % 255) + 1;
        let copy: RingCopy | undefined;
        const pending = ring.copy(new Uint8Array(len).fill(fill)).then((c) => { copy = c; });
        await tick();
        // Still waiting: room comes back as live copies are released, in any order.
        while (copy === undefined) {
          assert.ok(live.length > 0, 'an empty ring takes any copy up to its size');
          releaseOne(pick);
          await tick();
        }
        await pending;
        live.push({ copy, fill });
        for (const l of live) assert.ok(l.copy.bytes.every((x) => x === l.fill), 'a live copy was overwritten');
      }
      for (const l of live) l.copy.release();
    },
  ), { numRuns: 200 });
});
