// The 32-byte BLAKE3 digest that names blobs and directories, and its text form
// (lowercase hex, as b3sum prints it).

import { CastorError } from '../verify/index.js';
import { toHex } from '../verify/index.js';

export const DIGEST_LENGTH = 32;

declare const digestBrand: unique symbol;

/**
 * Exactly 32 bytes. The brand keeps arbitrary byte arrays (a name, a chunk) from
 * being passed where a checked digest is expected; make one with `asDigest` or
 * `parseDigest`.
 */
export type Digest = Uint8Array & { readonly [digestBrand]: true };

/** Text or bytes that are not a digest; `value` is what was given. */
export class InvalidDigestError extends CastorError {
  constructor(message: string, value: unknown) {
    super('INVALID_DIGEST', message, value);
  }
}

/** Checks the length and brands `bytes` as a Digest (no copy). */
export function asDigest(bytes: Uint8Array): Digest {
  if (!(bytes instanceof Uint8Array)) throw new InvalidDigestError('digest is not a Uint8Array', bytes);
  if (bytes.length !== DIGEST_LENGTH) {
    throw new InvalidDigestError(`digest is ${bytes.length} bytes, not ${DIGEST_LENGTH}`, bytes);
  }
  return bytes as Digest;
}

export function isDigest(bytes: unknown): bytes is Digest {
  return bytes instanceof Uint8Array && bytes.length === DIGEST_LENGTH;
}

const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;

/**
 * Parses 64 hex digits. Either case is accepted on input; `formatDigest` always
 * writes lowercase, so keys built from formatted digests stay canonical.
 */
export function parseDigest(hex: string): Digest {
  if (typeof hex !== 'string') throw new InvalidDigestError('digest text is not a string', hex);
  // Buffer.from(..., 'hex') silently stops at the first bad digit, so check first.
  if (!HEX_DIGEST.test(hex)) {
    throw new InvalidDigestError(`not a digest: expected ${DIGEST_LENGTH * 2} hex digits, got ${JSON.stringify(hex.length > 80 ? `${hex.slice(0, 80)}…` : hex)}`, hex);
  }
  // A copy, not a view: small Buffers are slices of a shared pool.
  return new Uint8Array(Buffer.from(hex, 'hex')) as Digest;
}

export function formatDigest(digest: Uint8Array): string {
  return toHex(asDigest(digest));
}

export function digestEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
