// Nix-format ed25519 keys and signatures: round trips, known vectors from Nix and
// tvix, and every malformed input we can think of.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import nacl from 'tweetnacl';
import { CastorError } from '../../src/verify/errors.js';
import {
  KeyMismatchError, MalformedKeyError, MalformedSignatureError, type MalformedReason,
  formatPublicKey, formatSecretKey, formatSignature, generateKeyPair, parsePublicKey,
  parseSecretKey, parseSignature, publicKeyOf, sign, verify,
} from '../../src/verify/keys.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/gu, ''), 'hex'));
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

// tvix nix-compat src/narinfo/mod.rs: DUMMY_KEYPAIR / DUMMY_VERIFYING_KEY, a pair in
// the format nix-store --generate-binary-cache-key writes.
const TVIX_SECRET = 'cache.example.com-1:cCta2MEsRNuYCgWYyeRXLyfoFpKhQJKn8gLMeXWAb7vIpRKKo/3JoxJ24OYa3DxT2JVV38KjK/1ywHWuMe2JEw==';
const TVIX_PUBLIC = 'cache.example.com-1:yKUSiqP9yaMSduDmGtw8U9iVVd/Coyv9csB1rjHtiRM=';
const CACHE_NIXOS_ORG = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=';
const SIG = 'cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==';

function throwsMalformed(fn: () => unknown, code: string, reason?: MalformedReason): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CastorError, `expected CastorError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (reason !== undefined) assert.equal((e as MalformedKeyError).reason, reason);
    return true;
  });
}

test('tvix test key pair: parses, formats byte-for-byte, public half derives', () => {
  const secret = parseSecretKey(TVIX_SECRET);
  assert.equal(secret.name, 'cache.example.com-1');
  assert.equal(secret.secretKey.length, 64);
  assert.equal(formatSecretKey(secret), TVIX_SECRET);
  assert.equal(formatPublicKey(publicKeyOf(secret)), TVIX_PUBLIC);
  assert.deepEqual(parsePublicKey(TVIX_PUBLIC).publicKey, publicKeyOf(secret).publicKey);
  const msg = utf8('hello world');
  assert.ok(verify(parsePublicKey(TVIX_PUBLIC), msg, sign(secret, msg)));
});

test('RFC 8032 7.1 vector in Nix key format (as Nix local-keys test)', () => {
  const seed = hex('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42');
  const pub = hex('ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf');
  const message = hex(`ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
    2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f`);
  const expected = hex(`dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589
    09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704`);
  const text = `test:${Buffer.concat([seed, pub]).toString('base64')}`;
  const secret = parseSecretKey(text);
  const sig = sign(secret, message);
  assert.equal(sig.name, 'test');
  assert.deepEqual(sig.signature, expected);
  assert.deepEqual(publicKeyOf(secret).publicKey, pub);
  assert.ok(verify(publicKeyOf(secret), message, sig));
});

test('cache.nixos.org public key and a real signature round-trip', () => {
  const key = parsePublicKey(CACHE_NIXOS_ORG);
  assert.equal(key.name, 'cache.nixos.org-1');
  assert.equal(formatPublicKey(key), CACHE_NIXOS_ORG);
  const sig = parseSignature(SIG);
  assert.equal(sig.signature.length, 64);
  assert.equal(formatSignature(sig), SIG);
});

test('generate: round trips through text, signs and verifies, different every time', () => {
  const a = generateKeyPair('castor-test-1');
  const b = generateKeyPair('castor-test-1');
  assert.notDeepEqual(a.secret.secretKey, b.secret.secretKey);
  const s = parseSecretKey(formatSecretKey(a.secret));
  assert.deepEqual(s, a.secret);
  assert.deepEqual(parsePublicKey(formatPublicKey(a.public)), a.public);
  assert.deepEqual(publicKeyOf(s), a.public);
  const msg = utf8('1;/nix/store/x;sha256:y;1;');
  const sig = sign(s, msg);
  assert.deepEqual(sign(s, msg), sig, 'ed25519 signing is deterministic');
  assert.deepEqual(parseSignature(formatSignature(sig)), sig);
  assert.ok(verify(a.public, msg, sig));
  assert.equal(verify(b.public, msg, { ...sig, name: b.public.name }), false, 'other key');
});

test('verify: flipped bit anywhere in signature or message fails; name must match', () => {
  const { secret, public: pub } = generateKeyPair('k');
  const msg = utf8('some fingerprint text');
  const sig = sign(secret, msg);
  for (let i = 0; i < 64; i++) {
    const bad = sig.signature.slice();
    bad[i]! ^= 1 << (i % 8);
    assert.equal(verify(pub, msg, { name: 'k', signature: bad }), false, `sig byte ${i}`);
  }
  for (let i = 0; i < msg.length; i++) {
    const bad = msg.slice();
    bad[i]! ^= 0x01;
    assert.equal(verify(pub, bad, sig), false, `msg byte ${i}`);
  }
  assert.equal(verify(pub, msg.subarray(1), sig), false, 'truncated message');
  assert.equal(verify({ ...pub, name: 'other' }, msg, sig), false, 'name mismatch');
});

test('verify: rejects the S+L twin of a valid signature, as libsodium (Nix) does', () => {
  const { secret, public: pub } = generateKeyPair('k');
  const msg = utf8('malleability');
  const sig = sign(secret, msg);
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig.signature[32 + i]!);
  s += L; // still < 2^256, same point equation
  const twin = sig.signature.slice();
  for (let i = 0; i < 32; i++) { twin[32 + i] = Number(s & 0xffn); s >>= 8n; }
  assert.ok(nacl.sign.detached.verify(msg, twin, pub.publicKey), 'tweetnacl alone would accept it');
  assert.equal(verify(pub, msg, { name: 'k', signature: twin }), false);
});

test('trailing whitespace (key files end in a newline) is tolerated, leading is not', () => {
  for (const tail of ['\n', '\r\n', '  \n\n', '\t']) {
    assert.equal(formatSecretKey(parseSecretKey(TVIX_SECRET + tail)), TVIX_SECRET);
    assert.equal(formatPublicKey(parsePublicKey(TVIX_PUBLIC + tail)), TVIX_PUBLIC);
    assert.equal(formatSignature(parseSignature(SIG + tail)), SIG);
  }
  throwsMalformed(() => parsePublicKey(` ${TVIX_PUBLIC}`), 'MALFORMED_KEY', 'bad-name');
});

test('malformed keys: each reason', () => {
  const b64 = TVIX_PUBLIC.slice(TVIX_PUBLIC.indexOf(':') + 1);
  const cases: Array<[string, MalformedReason]> = [
    ['', 'missing-colon'],
    ['\n', 'missing-colon'],
    [b64, 'missing-colon'],
    [`:${b64}`, 'empty-name'],
    [`test :${b64}`, 'bad-name'],
    [`test\n:${b64}`, 'bad-name'],
    [`te\u0000st:${b64}`, 'bad-name'],
    ['name:', 'wrong-length'],
    [`name:${b64.slice(0, -1)}`, 'bad-base64'], // missing padding
    [`name:${b64.slice(0, -4)}`, 'wrong-length'], // valid base64, 30 bytes
    [`name:${Buffer.alloc(33, 7).toString('base64')}`, 'wrong-length'],
    [`name:${b64}AAAA`, 'bad-base64'], // '=' inside
    [`name:-${b64.slice(1)}`, 'bad-base64'], // base64url alphabet
    [`name:${b64.replace('/', '_')}`, 'bad-base64'],
    [`name:${b64.slice(0, -2)}Z=`, 'bad-base64'], // non-zero trailing bits: non-canonical
    [`name:${b64.slice(0, 20)}=${b64.slice(21)}`, 'bad-base64'], // padding in the middle
    [`name:${b64.slice(0, 20)} ${b64.slice(21)}`, 'bad-base64'],
    [`name:${b64.slice(0, 20)}\n${b64.slice(20)}`, 'bad-base64'], // Nix skips '\n'; we do not
    [`name:${b64.slice(0, -1)}==`, 'bad-base64'],
    [`name:${b64}:${b64}`, 'bad-base64'],
  ];
  for (const [text, reason] of cases) {
    throwsMalformed(() => parsePublicKey(text), 'MALFORMED_KEY', reason);
  }
  // A public key is not a secret key and vice versa: lengths differ.
  throwsMalformed(() => parseSecretKey(TVIX_PUBLIC), 'MALFORMED_KEY', 'wrong-length');
  throwsMalformed(() => parsePublicKey(TVIX_SECRET), 'MALFORMED_KEY', 'wrong-length');
  throwsMalformed(() => parseSignature(TVIX_PUBLIC), 'MALFORMED_SIGNATURE', 'wrong-length');
  // Non-strings (e.g. a Buffer from readFile without an encoding) are rejected, not crashed on.
  throwsMalformed(() => parsePublicKey(Buffer.from(TVIX_PUBLIC) as unknown as string), 'MALFORMED_KEY', 'not-text');
  throwsMalformed(() => parseSignature(undefined as unknown as string), 'MALFORMED_SIGNATURE', 'not-text');
});

test('malformed signatures: tvix parse_fail cases and more', () => {
  const cases: Array<[string, MalformedReason]> = [
    ['cache.nixos.org-1:o1DTsjCz0PofLJ216P2RBuSulI8BAb6zHxWE4N+tzlcELk5Uk/GO2SCxWTRN5wJutLZZ+cHTMdWqOHF8', 'wrong-length'],
    ['test\n:u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==', 'bad-name'],
    ['test :u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==', 'bad-name'],
    [':u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==', 'empty-name'],
    ['u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==', 'missing-colon'],
    [SIG.slice(0, -2), 'bad-base64'],
    [`${SIG.slice(0, -2)}AA`, 'wrong-length'], // 66 bytes
  ];
  for (const [text, reason] of cases) throwsMalformed(() => parseSignature(text), 'MALFORMED_SIGNATURE', reason);
});

test('every truncation of a valid key or signature is a clean MALFORMED error', () => {
  for (let n = 0; n < TVIX_SECRET.length; n++) throwsMalformed(() => parseSecretKey(TVIX_SECRET.slice(0, n)), 'MALFORMED_KEY');
  for (let n = 0; n < TVIX_PUBLIC.length; n++) throwsMalformed(() => parsePublicKey(TVIX_PUBLIC.slice(0, n)), 'MALFORMED_KEY');
  for (let n = 0; n < SIG.length; n++) throwsMalformed(() => parseSignature(SIG.slice(0, n)), 'MALFORMED_SIGNATURE');
});

test('binary garbage never crashes the parsers', () => {
  for (let i = 0; i < 500; i++) {
    const bytes = randomBytes(i % 120);
    for (const text of [bytes.toString('latin1'), bytes.toString('utf8'), `k:${bytes.toString('latin1')}`]) {
      for (const parse of [parseSecretKey, parsePublicKey, parseSignature]) {
        try { parse(text); } catch (e) { assert.ok(e instanceof CastorError, String(e)); }
      }
    }
  }
});

test('secret key whose public half does not match its seed is refused, without leaking it', () => {
  const raw = Buffer.from(TVIX_SECRET.slice(TVIX_SECRET.indexOf(':') + 1), 'base64');
  raw[40]! ^= 0x01;
  const text = `cache.example.com-1:${raw.toString('base64')}`;
  assert.throws(() => parseSecretKey(text), (e: unknown) => {
    assert.ok(e instanceof KeyMismatchError);
    assert.equal(e.code, 'KEY_MISMATCH');
    assert.ok(!e.message.includes(raw.toString('base64').slice(0, 20)));
    return true;
  });
  // Malformed secret keys do not echo the text either (Nix hides secrets in errors too).
  assert.throws(() => parseSecretKey(TVIX_SECRET.slice(0, -2)), (e: unknown) => {
    assert.ok(e instanceof MalformedKeyError);
    assert.equal(e.value, undefined);
    assert.ok(!e.message.includes('cCta2'));
    return true;
  });
});

test('formatters and generateKeyPair refuse what Nix could not parse back', () => {
  throwsMalformed(() => generateKeyPair(''), 'MALFORMED_KEY', 'empty-name');
  throwsMalformed(() => generateKeyPair('a:b'), 'MALFORMED_KEY', 'bad-name');
  throwsMalformed(() => generateKeyPair('a b'), 'MALFORMED_KEY', 'bad-name');
  const pub = parsePublicKey(TVIX_PUBLIC);
  throwsMalformed(() => formatPublicKey({ ...pub, publicKey: pub.publicKey.subarray(1) }), 'MALFORMED_KEY', 'wrong-length');
  throwsMalformed(() => formatSignature({ name: 'x', signature: new Uint8Array(63) }), 'MALFORMED_SIGNATURE', 'wrong-length');
  throwsMalformed(() => verify(pub, utf8('m'), { name: pub.name, signature: new Uint8Array(10) }), 'MALFORMED_SIGNATURE');
  assert.ok(new MalformedSignatureError('bad-base64', 'x') instanceof CastorError);
});
