// DigestSet: a set of 32-byte digests in flat memory; it must behave like a Set of their hex.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DigestSet } from '../../../src/store/util/digest-set.js';

test('DigestSet agrees with a Set of hex strings through growth, duplicates and iteration', () => {
  const set = new DigestSet(4);
  const ref = new Set<string>();
  const digests = Array.from({ length: 20_000 }, () => new Uint8Array(randomBytes(32)));
  // Digests sharing their first 16 bytes must not all land on one probe chain (they still work).
  const prefix = randomBytes(16);
  for (let i = 0; i < 2000; i++) digests.push(new Uint8Array(Buffer.concat([prefix, randomBytes(16)])));
  for (const [i, d] of digests.entries()) {
    const hex = Buffer.from(d).toString('hex');
    assert.equal(set.add(d), !ref.has(hex));
    ref.add(hex);
    if (i % 3 === 0) assert.equal(set.add(d.slice()), false, 'a copy of a member is a member');
  }
  assert.equal(set.size, ref.size);
  for (const d of digests) assert.ok(set.has(d));
  for (let i = 0; i < 1000; i++) assert.equal(set.has(new Uint8Array(randomBytes(32))), false);
  const listed = new Set([...set].map((d) => Buffer.from(d).toString('hex')));
  assert.deepEqual(listed, ref);
  // add() copies: changing the caller's bytes afterwards does not change the member.
  const d = new Uint8Array(randomBytes(32));
  set.add(d);
  const kept = d.slice();
  d[0] = d[0]! ^ 1;
  assert.ok(set.has(kept));
  assert.throws(() => set.has(new Uint8Array(31)), RangeError);
});
