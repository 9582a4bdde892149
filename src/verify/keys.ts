// ed25519 keys and signatures in Nix's binary-cache text format (`name:base64`),
// so keys from `nix-store --generate-binary-cache-key` work here and ours work in Nix.

import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { CastorError } from './errors.js';

export const SECRET_KEY_BYTES = 64; // libsodium/tweetnacl layout: seed (32) || public key (32)
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface SecretKey { name: string; secretKey: Uint8Array }
export interface PublicKey { name: string; publicKey: Uint8Array }
export interface Signature { name: string; signature: Uint8Array }

/** Why a `name:base64` text was rejected. */
export type MalformedReason =
  | 'not-text' | 'missing-colon' | 'empty-name' | 'bad-name' | 'bad-base64' | 'wrong-length';

/** A key text (or key object) is not `name:base64(N bytes)`. */
export class MalformedKeyError extends CastorError {
  readonly reason: MalformedReason;
  constructor(reason: MalformedReason, message: string, value?: unknown) {
    super('MALFORMED_KEY', message, value);
    this.reason = reason;
  }
}

/** A signature text (or object) is not `name:base64(64 bytes)`. */
export class MalformedSignatureError extends CastorError {
  readonly reason: MalformedReason;
  constructor(reason: MalformedReason, message: string, value?: unknown) {
    super('MALFORMED_SIGNATURE', message, value);
    this.reason = reason;
  }
}

/**
 * A secret key whose second half is not the public key of its seed. Nix does not
 * check this (libsodium just copies the second half out as "the" public key), and
 * signing with such a key yields signatures that never verify; we refuse it early.
 */
export class KeyMismatchError extends CastorError {
  constructor(name: string) {
    super('KEY_MISMATCH', `secret key '${name}': embedded public key does not match its seed`, name);
  }
}

type Kind = 'secret key' | 'public key' | 'signature';

function fail(kind: Kind, reason: MalformedReason, message: string, value: unknown): never {
  // Never echo secret material into errors (Nix hides it too: `sensitiveValue`).
  const shown = kind === 'secret key' ? undefined : value;
  if (kind === 'signature') throw new MalformedSignatureError(reason, `${kind}: ${message}`, shown);
  throw new MalformedKeyError(reason, `${kind}: ${message}`, shown);
}

/**
 * Name rule: Nix accepts anything non-empty before the first ':'. We also refuse
 * whitespace and control characters: names live in whitespace-separated lists
 * (`trusted-public-keys`, `Sig:` lines), so such a key could never be used anyway.
 */
function checkName(kind: Kind, name: string, value: unknown): void {
  if (name.length === 0) fail(kind, 'empty-name', 'empty name before ":"', value);
  if (/[\s\u0000-\u001f\u007f]/u.test(name)) fail(kind, 'bad-name', 'name contains whitespace or control characters', value);
}

/** Key names for new keys and signatures follow the same rule, plus no ':'. */
export function checkKeyName(name: string): void {
  if (typeof name !== 'string') fail('public key', 'not-text', 'name is not a string', name);
  checkName('public key', name, name);
  if (name.includes(':')) fail('public key', 'bad-name', 'name contains ":"', name);
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Split `name:base64` and decode strictly: standard alphabet, padded, canonical
 * (re-encodes to the same text), exactly `bytes` long. Nix's own decoder is laxer
 * (stops at the first '=', skips '\n'); everything we accept, Nix accepts too.
 * Trailing whitespace (a newline at the end of a key file) is tolerated.
 */
function parseColonBase64(kind: Kind, text: unknown, bytes: number): { name: string; data: Uint8Array } {
  if (typeof text !== 'string') fail(kind, 'not-text', 'input is not a string', undefined);
  const s = text.replace(/\s+$/u, '');
  const colon = s.indexOf(':');
  if (colon < 0) fail(kind, 'missing-colon', 'expected "name:base64", no ":" found', text);
  const name = s.slice(0, colon);
  checkName(kind, name, text);
  const b64 = s.slice(colon + 1);
  if (b64.length % 4 !== 0 || !BASE64_RE.test(b64)) fail(kind, 'bad-base64', 'not padded standard base64', text);
  const data = Buffer.from(b64, 'base64');
  if (data.toString('base64') !== b64) fail(kind, 'bad-base64', 'non-canonical base64', text);
  if (data.length !== bytes) fail(kind, 'wrong-length', `decodes to ${data.length} bytes, expected ${bytes}`, text);
  return { name, data: new Uint8Array(data) };
}

function formatColonBase64(kind: Kind, name: string, data: Uint8Array, bytes: number): string {
  checkName(kind, name, name);
  if (name.includes(':')) fail(kind, 'bad-name', 'name contains ":"', name);
  if (!(data instanceof Uint8Array) || data.length !== bytes) {
    fail(kind, 'wrong-length', `expected ${bytes} bytes`, undefined);
  }
  return `${name}:${Buffer.from(data.buffer, data.byteOffset, data.length).toString('base64')}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Parse a Nix secret key file's text; rejects a secret whose public half does not match its seed. */
export function parseSecretKey(text: string): SecretKey {
  const { name, data } = parseColonBase64('secret key', text, SECRET_KEY_BYTES);
  const derived = nacl.sign.keyPair.fromSeed(data.subarray(0, 32)).publicKey;
  if (!equalBytes(derived, data.subarray(32))) throw new KeyMismatchError(name);
  return { name, secretKey: data };
}

export function parsePublicKey(text: string): PublicKey {
  const { name, data } = parseColonBase64('public key', text, PUBLIC_KEY_BYTES);
  return { name, publicKey: data };
}

export function parseSignature(text: string): Signature {
  const { name, data } = parseColonBase64('signature', text, SIGNATURE_BYTES);
  return { name, signature: data };
}

/** `name:base64`, no trailing newline: byte-identical to what Nix writes. */
export function formatSecretKey(key: SecretKey): string {
  return formatColonBase64('secret key', key.name, key.secretKey, SECRET_KEY_BYTES);
}

export function formatPublicKey(key: PublicKey): string {
  return formatColonBase64('public key', key.name, key.publicKey, PUBLIC_KEY_BYTES);
}

export function formatSignature(sig: Signature): string {
  return formatColonBase64('signature', sig.name, sig.signature, SIGNATURE_BYTES);
}

/** The public half of a secret key, named like it (as `nix key convert-secret-to-public`). */
export function publicKeyOf(secret: SecretKey): PublicKey {
  if (!(secret.secretKey instanceof Uint8Array) || secret.secretKey.length !== SECRET_KEY_BYTES) {
    fail('secret key', 'wrong-length', `expected ${SECRET_KEY_BYTES} bytes`, undefined);
  }
  return { name: secret.name, publicKey: secret.secretKey.slice(32) };
}

/** A fresh key pair from the OS CSPRNG. */
export function generateKeyPair(name: string): { secret: SecretKey; public: PublicKey } {
  checkKeyName(name);
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(randomBytes(32)));
  return {
    secret: { name, secretKey: pair.secretKey },
    public: { name, publicKey: pair.publicKey },
  };
}

/** Detached ed25519 signature, named after the key (deterministic, as in Nix). */
export function sign(secret: SecretKey, message: Uint8Array): Signature {
  if (!(secret.secretKey instanceof Uint8Array) || secret.secretKey.length !== SECRET_KEY_BYTES) {
    fail('secret key', 'wrong-length', `expected ${SECRET_KEY_BYTES} bytes`, undefined);
  }
  return { name: secret.name, signature: nacl.sign.detached(message, secret.secretKey) };
}

// Group order L, little-endian. libsodium (so Nix) rejects signatures whose S is
// not below L; tweetnacl does not check, so we do, or we would accept S+L forgeries
// of a valid signature that Nix refuses.
const L = [
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

function canonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i]!;
    if (s !== L[i]) return s < L[i]!;
  }
  return false; // S == L
}

/**
 * True iff the names match (as Nix's `PublicKey::verifyDetached`) and the
 * signature is valid. Throws on wrong-sized keys or signatures, never on bad bytes.
 */
export function verify(key: PublicKey, message: Uint8Array, sig: Signature): boolean {
  if (!(key.publicKey instanceof Uint8Array) || key.publicKey.length !== PUBLIC_KEY_BYTES) {
    fail('public key', 'wrong-length', `expected ${PUBLIC_KEY_BYTES} bytes`, undefined);
  }
  if (!(sig.signature instanceof Uint8Array) || sig.signature.length !== SIGNATURE_BYTES) {
    fail('signature', 'wrong-length', `expected ${SIGNATURE_BYTES} bytes`, undefined);
  }
  if (sig.name !== key.name) return false;
  if (!canonicalS(sig.signature)) return false;
  return nacl.sign.detached.verify(message, sig.signature, key.publicKey);
}
