// Typed errors of the trust layer: one class per rule a root or index can break, each
// with a stable code and the offending value. Messages may change; codes do not.

import { CastorError } from '../../verify/index.js';

/** Root, bundle or evidence bytes that do not decode as the canonical message. */
export class MalformedRootError extends CastorError {
  constructor(what: string, detail: string, options?: { cause?: unknown }) {
    super('MALFORMED_ROOT', `${what} is malformed: ${detail}`, what, options);
  }
}

/** No trusted key has this name and public key (a trusted key under another name does not count). */
export class UntrustedKeyError extends CastorError {
  constructor(readonly keyName: string, readonly publicKey: string) {
    super('UNTRUSTED_KEY', `root is signed by ${publicKey}, which is not a trusted key`, publicKey);
  }
}

/** The signature does not verify against the key the root names. */
export class BadSignatureError extends CastorError {
  constructor(readonly publicKey: string) {
    super('BAD_SIGNATURE', `root signature does not verify against ${publicKey}`, publicKey);
  }
}

/** A sequence below the last one accepted for the key: an old root replayed. */
export class RollbackError extends CastorError {
  constructor(readonly sequence: bigint, readonly accepted: bigint, readonly publicKey: string) {
    super('ROLLBACK', `root sequence ${sequence} is below ${accepted}, the last accepted for ${publicKey}: rollback refused`, sequence);
  }
}

/**
 * The same sequence as the accepted root with a different index: the publisher signed
 * two histories. `evidence` is the encoded Equivocation (both roots), kept in trust/evidence/.
 */
export class EquivocationError extends CastorError {
  evidencePath: string | undefined;
  constructor(readonly sequence: bigint, readonly publicKey: string, readonly evidence: Uint8Array) {
    super('EQUIVOCATION', `key ${publicKey} signed two different indexes with sequence ${sequence}: equivocation`, sequence);
  }
}

/** The root's expiry time has passed (or, when resolving, the accepted root has since expired). */
export class ExpiredRootError extends CastorError {
  constructor(readonly expires: bigint, readonly now: bigint) {
    super('EXPIRED', `root expired at ${new Date(Number(expires) * 1000).toISOString()} (now ${new Date(Number(now) * 1000).toISOString()})`, expires);
  }
}

/** The Index bytes are not the size the root names. */
export class IndexSizeMismatchError extends CastorError {
  constructor(readonly expected: bigint, readonly actual: number) {
    super('INDEX_SIZE_MISMATCH', `index is ${actual} bytes, the root says ${expected}`, actual);
  }
}

/** The Index bytes do not hash to the digest the root names. */
export class IndexDigestMismatchError extends CastorError {
  constructor(readonly expected: string, readonly actual: string) {
    super('INDEX_DIGEST_MISMATCH', `index hashes to ${actual}, the root says ${expected}`, actual);
  }
}

/** Which rule an Index broke. Stable: callers and tests match on it. */
export type InvalidIndexReason =
  | 'MALFORMED' // not the canonical encoding of an Index
  | 'UNSORTED' // an entry's name is below the one before it
  | 'DUPLICATE_NAME' // two entries with the same name
  | 'BAD_NAME' // empty, ".", "..", over 255 bytes, or holds "/" or NUL
  | 'BAD_NODE' // the entry's castore Node is invalid (or not anonymous)
  | 'BAD_NIX_INFO' // the Nix metadata breaks a rule (lengths, counts, store path names)
  | 'TOO_LARGE'; // over MAX_INDEX_BYTES

/** An Index that breaks a rule; `entry` is the entry number (from 0) and `offset` where in the bytes. */
export class InvalidIndexError extends CastorError {
  constructor(readonly reason: InvalidIndexReason, detail: string, readonly entry: number, readonly offset: number, options?: { cause?: unknown }) {
    super('INVALID_INDEX', `invalid index: ${detail} (entry ${entry}, byte ${offset})`, entry, options);
  }
}

/** The data dir's config file cannot be used. */
export class TrustConfigError extends CastorError {
  constructor(readonly path: string, detail: string, options?: { cause?: unknown }) {
    super('INVALID_CONFIG', `${path}: ${detail}`, path, options);
  }
}
