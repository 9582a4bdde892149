// checkRoot, rule by rule: each rejection is its own typed error, and one flipped byte
// anywhere in a SignedRoot or its Index is never accepted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BadSignatureError, EquivocationError, ExpiredRootError, IndexDigestMismatchError, IndexSizeMismatchError, InvalidIndexError,
  RollbackError, type SignedRoot, UntrustedKeyError, checkRoot, decodeSignedRoot, encodeSignedRoot,
} from '../../../src/store/trust/index.js';
import * as pb from '../../../src/store/trust/index-pb.js';
import { CastorError } from '../../../src/verify/errors.js';
import { type PublicKey } from '../../../src/verify/keys.js';
import { NOW, curlNixInfo, dirNode, enc, encodeEntryRaw, entries, indexOf, keys, rootOver } from './fixtures.js';

const pair = keys('pub.example-1');
const other = keys('other.example-1');
const trusted: PublicKey[] = [pair.public];
const index = indexOf([...entries(['a', 'b', 'c', 'd']), { name: enc('nix-curl'), node: dirNode(5), nix: curlNixInfo() }]);
const root = rootOver(pair.secret, index, { sequence: 5n });
const ctx = { trusted, accepted: undefined, now: NOW };

test('a root by a trusted key over its index is accepted, with its entry offsets', () => {
  const verdict = checkRoot(root, index, ctx);
  assert.equal(verdict.kind, 'new');
  assert.equal(verdict.offsets.length, 6);
  assert.equal(checkRoot(root, index, { ...ctx, accepted: root }).kind, 'same', 'the same root again');
});

test('forged signature, unknown key, and a trusted key under another name are refused', () => {
  const forged: SignedRoot = { ...root, signature: root.signature.map((b, i) => (i === 10 ? b ^ 1 : b)) };
  assert.throws(() => checkRoot(forged, index, ctx), BadSignatureError);
  // Signed by another key that claims the trusted key's public key: the signature fails.
  const impostor = rootOver(other.secret, index);
  assert.throws(() => checkRoot({ ...impostor, keyName: pair.public.name, publicKey: pair.public.publicKey }, index, ctx), BadSignatureError);
  assert.throws(() => checkRoot(impostor, index, ctx), UntrustedKeyError, 'unknown key');
  // The trusted public key, but under another name (the name is part of the key, as in Nix).
  const renamed = rootOver({ name: 'pub.example-2', secretKey: pair.secret.secretKey }, index);
  assert.throws(() => checkRoot(renamed, index, ctx), UntrustedKeyError);
  assert.throws(() => checkRoot(root, index, { ...ctx, trusted: [{ name: 'pub.example-2', publicKey: pair.public.publicKey }] }), UntrustedKeyError);
  assert.throws(() => checkRoot(root, index, { ...ctx, trusted: [] }), UntrustedKeyError);
});

test('rollback: a lower sequence than the accepted one', () => {
  const older = rootOver(pair.secret, index, { sequence: 4n });
  assert.throws(() => checkRoot(older, index, { ...ctx, accepted: root }), RollbackError);
  assert.equal(checkRoot(rootOver(pair.secret, index, { sequence: 6n }), index, { ...ctx, accepted: root }).kind, 'new');
});

test('equivocation: the same sequence over another index, with both roots as evidence', () => {
  const otherIndex = indexOf(entries(['a', 'b']));
  const twin = rootOver(pair.secret, otherIndex, { sequence: 5n });
  let caught: unknown;
  try {
    checkRoot(twin, otherIndex, { ...ctx, accepted: root });
  } catch (err: unknown) {
    caught = err;
  }
  assert.ok(caught instanceof EquivocationError);
  assert.equal(caught.code, 'EQUIVOCATION');
  const evidence = pb.Equivocation.decode(caught.evidence);
  assert.deepEqual(decodeSignedRoot(pb.SignedRoot.encode(evidence.accepted!)), root);
  assert.deepEqual(decodeSignedRoot(pb.SignedRoot.encode(evidence.conflicting!)), twin);
});

test('expiry: refused at and after the expiry time, accepted before it', () => {
  const expiring = rootOver(pair.secret, index, { timestamp: 1000n, expires: 1500n });
  assert.throws(() => checkRoot(expiring, index, { ...ctx, now: 1500n }), ExpiredRootError);
  assert.throws(() => checkRoot(expiring, index, { ...ctx, now: 9999n }), ExpiredRootError);
  assert.equal(checkRoot(expiring, index, { ...ctx, now: 1499n }).kind, 'new');
});

test('the index must be the size and digest the root names, and valid', () => {
  assert.throws(() => checkRoot(root, index.subarray(1), ctx), IndexSizeMismatchError);
  const swapped = index.slice();
  swapped[5]! ^= 0x20;
  assert.throws(() => checkRoot(root, swapped, ctx), IndexDigestMismatchError);
  // Correctly signed, but unsorted or duplicated entries.
  const a = encodeEntryRaw('a');
  const b = encodeEntryRaw('b');
  for (const [bytes, reason] of [[Uint8Array.from([...b, ...a]), 'UNSORTED'], [Uint8Array.from([...a, ...a]), 'DUPLICATE_NAME']] as const) {
    const signed = rootOver(pair.secret, bytes);
    assert.throws(() => checkRoot(signed, bytes, ctx), (e: unknown) => e instanceof InvalidIndexError && e.reason === reason);
  }
});

test('one flipped bit anywhere in the SignedRoot or the Index is never accepted', () => {
  const rootBytes = encodeSignedRoot(root);
  for (let at = 0; at < rootBytes.length; at++) {
    for (const bit of [0x01, 0x80]) {
      const bad = rootBytes.slice();
      bad[at]! ^= bit;
      assert.throws(() => checkRoot(decodeSignedRoot(bad), index, ctx), (e: unknown) => e instanceof CastorError && [
        'MALFORMED_ROOT', 'UNTRUSTED_KEY', 'BAD_SIGNATURE', 'INDEX_SIZE_MISMATCH', 'INDEX_DIGEST_MISMATCH', 'EXPIRED',
      ].includes(e.code), `root byte ${at} bit ${bit}`);
    }
  }
  for (let at = 0; at < index.length; at++) {
    const bad = index.slice();
    bad[at]! ^= 1 << (at % 8);
    assert.throws(() => checkRoot(root, bad, ctx), IndexDigestMismatchError, `index byte ${at}`);
  }
});
