// Digest: hex parse and format, length checks, and the typed error on malformed input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DIGEST_LENGTH, InvalidDigestError, asDigest, digestEquals, formatDigest, isDigest, parseDigest } from '../../src/store/digest.js';
import { blake3 } from '../../src/verify/blake3/index.js';

const EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

test('parse and format: BLAKE3("") and any 32 bytes round-trip, lowercase out', () => {
  assert.deepEqual(parseDigest(EMPTY), blake3(new Uint8Array(0)));
  assert.equal(formatDigest(blake3(new Uint8Array(0))), EMPTY);
  assert.equal(formatDigest(parseDigest(EMPTY.toUpperCase())), EMPTY);
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
    assert.deepEqual(parseDigest(formatDigest(b)), b);
  }));
});

test('parsed digests own their bytes', () => {
  const d = parseDigest(EMPTY);
  assert.equal(d.byteOffset, 0);
  assert.equal(d.buffer.byteLength, DIGEST_LENGTH);
});

test('malformed hex is an InvalidDigestError with code INVALID_DIGEST and the input', () => {
  for (const bad of ['', EMPTY.slice(1), `${EMPTY}0`, `${EMPTY.slice(0, 63)}g`, ` ${EMPTY.slice(1)}`, `0x${EMPTY.slice(2)}`, 'é'.repeat(64)]) {
    assert.throws(() => parseDigest(bad), (err: unknown) =>
      err instanceof InvalidDigestError && err.code === 'INVALID_DIGEST' && err.value === bad, bad);
  }
  assert.throws(() => parseDigest(42 as unknown as string), { code: 'INVALID_DIGEST' });
  assert.throws(() => parseDigest('a'.repeat(1000)), (err: unknown) => err instanceof InvalidDigestError && err.message.length < 200);
});

test('asDigest checks the length; isDigest and digestEquals', () => {
  assert.throws(() => asDigest(new Uint8Array(31)), { code: 'INVALID_DIGEST' });
  assert.throws(() => formatDigest(new Uint8Array(33)), { code: 'INVALID_DIGEST' });
  const d = asDigest(new Uint8Array(32));
  assert.ok(isDigest(d));
  assert.ok(!isDigest(new Uint8Array(16)));
  assert.ok(!isDigest('00'.repeat(32)));
  assert.ok(digestEquals(d, new Uint8Array(32)));
  assert.ok(!digestEquals(d, parseDigest(EMPTY)));
  assert.ok(!digestEquals(d, new Uint8Array(31)));
});
