// SignedRoot: the domain-separated signing bytes, the canonical protobuf form (the same
// bytes protons writes; nothing else decodes), and bundles.

import assert from 'node:assert/strict';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { test } from 'node:test';
import {
  MalformedRootError, ROOT_SIGNING_DOMAIN, decodeRootBundle, decodeSignedRoot, encodeRootBundle, encodeSignedRoot,
  rootSigningBytes, verifyRootSignature,
} from '../../../src/store/trust/index.js';
import * as pb from '../../../src/store/trust/index-pb.js';
import { parseSecretKey } from '../../../src/verify/keys.js';
import { indexOf, entries, keys, rootOver } from './fixtures.js';

// tvix nix-compat's DUMMY_KEYPAIR (as in test/cli/key-nix.test.ts): a fixed key, so the signature is a fixed vector.
const SECRET = parseSecretKey('cache.example.com-1:cCta2MEsRNuYCgWYyeRXLyfoFpKhQJKn8gLMeXWAb7vIpRKKo/3JoxJ24OYa3DxT2JVV38KjK/1ywHWuMe2JEw==');

test('the signing bytes: domain, fixed-width fields, then the length-prefixed key name', () => {
  const root = rootOver(SECRET, new Uint8Array(0), { sequence: 7n, timestamp: 1_700_000_000n, expires: 1_800_000_000n });
  const bytes = rootSigningBytes(root);
  const hex = Buffer.from(bytes).toString('hex');
  const domain = Buffer.from(ROOT_SIGNING_DOMAIN).toString('hex');
  assert.equal(ROOT_SIGNING_DOMAIN, 'castor signed root v1\0');
  assert.equal(hex, [
    domain,
    'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262', // BLAKE3("")
    '0000000000000000', '0000000000000007', '000000006553f100', '000000006b49d200',
    Buffer.from(root.publicKey).toString('hex'),
    '0013', Buffer.from('cache.example.com-1').toString('hex'),
  ].join(''));
  // ed25519 is deterministic: this signature and encoding are fixed vectors.
  assert.equal(Buffer.from(root.signature).toString('hex'), 'dea16b15dd4dbfaac462209d4c3d0239b4e6484a7bf70c345775512129eaeb3a1302ac8a832c1e6faf115c606ef95412902e4ee867169972d9bb2eb3b3b8c10e');
  assert.equal(Buffer.from(encodeSignedRoot(root)).toString('hex'), '0a20af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f326218072080e2cfaa062880a4a7da06321363616368652e6578616d706c652e636f6d2d313a20c8a5128aa3fdc9a31276e0e61adc3c53d89555dfc2a32bfd72c075ae31ed89134240dea16b15dd4dbfaac462209d4c3d0239b4e6484a7bf70c345775512129eaeb3a1302ac8a832c1e6faf115c606ef95412902e4ee867169972d9bb2eb3b3b8c10e');
  // An independent ed25519 (OpenSSL, through node:crypto) agrees.
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(root.publicKey).toString('base64url') }, format: 'jwk' });
  assert.ok(cryptoVerify(null, bytes, key, root.signature));
  assert.ok(verifyRootSignature(root));
  assert.ok(!verifyRootSignature({ ...root, keyName: 'cache.example.com-2' }), 'the name is signed');
  assert.ok(!verifyRootSignature({ ...root, expires: 0n }), 'the expiry is signed');
});

test('encodeSignedRoot writes what protons writes; decode inverts it', () => {
  const { secret } = keys();
  const root = rootOver(secret, indexOf(entries(['a', 'b'])), { sequence: 3n, timestamp: 1234n, expires: 99999n });
  const bytes = encodeSignedRoot(root);
  assert.deepEqual(bytes, pb.SignedRoot.encode(root as unknown as pb.SignedRoot));
  assert.deepEqual(decodeSignedRoot(bytes), root);
  const noExpiry = rootOver(secret, new Uint8Array(0));
  assert.deepEqual(decodeSignedRoot(encodeSignedRoot(noExpiry)), noExpiry);
});

test('only the canonical encoding decodes: reordered, repeated, defaulted or unknown fields are refused', () => {
  const { secret } = keys();
  const bytes = encodeSignedRoot(rootOver(secret, new Uint8Array(0), { sequence: 2n }));
  const malformed = (b: Uint8Array): void => assert.throws(() => decodeSignedRoot(b), MalformedRootError);
  malformed(Uint8Array.from([...bytes, 0x48, 0x01])); // unknown field 9
  malformed(Uint8Array.from([...bytes, 0x18, 0x03])); // sequence again, after the signature
  malformed(Uint8Array.from([0x10, 0x00, ...bytes])); // index size 0 written, and out of order
  malformed(bytes.subarray(0, bytes.length - 1)); // truncated
  malformed(new Uint8Array(0));
  // Sequence 0 is not a sequence; expiry before signing is not an expiry.
  malformed(pb.SignedRoot.encode({ ...decodeSignedRoot(bytes), sequence: 0n } as unknown as pb.SignedRoot));
  malformed(pb.SignedRoot.encode({ ...decodeSignedRoot(bytes), expires: 500n } as unknown as pb.SignedRoot));
});

test('bundles: the magic, the root and the index; anything else is malformed', () => {
  const { secret } = keys();
  const index = indexOf(entries(['x', 'y', 'z']));
  const root = rootOver(secret, index);
  const bytes = encodeRootBundle({ root, index });
  const back = decodeRootBundle(bytes);
  assert.deepEqual(back.root, root);
  assert.deepEqual(back.index, index);
  assert.deepEqual(pb.RootBundle.decode(bytes).magic, 'castor-root-bundle-v1');
  assert.throws(() => decodeRootBundle(new TextEncoder().encode('not a bundle at all')), MalformedRootError);
  assert.throws(() => decodeRootBundle(Uint8Array.from([...bytes, 0x22, 0x00])), MalformedRootError);
});
