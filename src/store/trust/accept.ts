// The acceptance rules for a SignedRoot and its Index, all in one function, so every
// path that lets a root in (publish, import, verify, and the node's fetches to come)
// applies the same rules in the same order.

import { blake3, toHex } from '../../verify/index.js';
import type { PublicKey } from '../../verify/index.js';
import { digestEquals } from '../digest.js';
import {
  BadSignatureError, EquivocationError, ExpiredRootError, IndexDigestMismatchError, IndexSizeMismatchError,
  RollbackError, UntrustedKeyError,
} from './errors.js';
import { scanIndex } from './index-scan.js';
import { type SignedRoot, encodeEquivocation, showRootKey, verifyRootSignature } from './signed-root.js';

export interface AcceptContext {
  /** Keys trusted to sign roots: a root must name one of them exactly, name and key. */
  readonly trusted: readonly PublicKey[];
  /** The last root accepted for the key the candidate names, if any. */
  readonly accepted: SignedRoot | undefined;
  /** Unix seconds. */
  readonly now: bigint;
}

export interface Verdict {
  /** `new`: a higher sequence than anything accepted for the key; `same`: the accepted root's sequence and index again. */
  readonly kind: 'new' | 'same';
  /** Entry offsets of the Index (scanIndex), for lookups. */
  readonly offsets: Uint32Array;
}

/** True iff `key` is in `trusted` under the same name with the same public key. */
export function isTrustedKey(trusted: readonly PublicKey[], root: SignedRoot): boolean {
  return trusted.some((k) => k.name === root.keyName && digestEquals(k.publicKey, root.publicKey));
}

/**
 * Accepts `root` with its `index` bytes or throws the typed error of the first rule broken:
 *
 * 1. UNTRUSTED_KEY: the root's key (name and public key both) is not a trusted key.
 * 2. BAD_SIGNATURE: the signature over the root's signing bytes does not verify.
 * 3. ROLLBACK: the sequence is below the last accepted for the key.
 *    EQUIVOCATION: the same sequence with another index digest (the error carries the
 *    Equivocation evidence: both roots). Equal sequence and digest is accepted as `same`.
 * 4. EXPIRED: the root has an expiry and `now` is at or past it.
 * 5. INDEX_SIZE_MISMATCH, INDEX_DIGEST_MISMATCH: the bytes are not the Index it names.
 * 6. INVALID_INDEX: the Index is not canonical, an entry is malformed, or names are not
 *    strictly ascending (unsorted or duplicate).
 *
 * Signature before history, so only a genuine root can count as a rollback or as
 * evidence; cheap checks before hashing and scanning the Index. Pure: stores nothing.
 */
export function checkRoot(root: SignedRoot, index: Uint8Array, ctx: AcceptContext): Verdict {
  if (!isTrustedKey(ctx.trusted, root)) throw new UntrustedKeyError(root.keyName, showRootKey(root));
  if (!verifyRootSignature(root)) throw new BadSignatureError(showRootKey(root));

  let kind: Verdict['kind'] = 'new';
  const last = ctx.accepted;
  if (last !== undefined) {
    if (!digestEquals(last.publicKey, root.publicKey)) throw new TypeError('checkRoot: the accepted root given is of another key');
    if (root.sequence < last.sequence) throw new RollbackError(root.sequence, last.sequence, showRootKey(root));
    if (root.sequence === last.sequence) {
      if (!digestEquals(root.indexDigest, last.indexDigest) || root.indexSize !== last.indexSize) {
        throw new EquivocationError(root.sequence, showRootKey(root), encodeEquivocation(last, root));
      }
      kind = 'same';
    }
  }

  if (root.expires !== 0n && ctx.now >= root.expires) throw new ExpiredRootError(root.expires, ctx.now);

  if (BigInt(index.length) !== root.indexSize) throw new IndexSizeMismatchError(root.indexSize, index.length);
  const actual = blake3(index);
  if (!digestEquals(actual, root.indexDigest)) throw new IndexDigestMismatchError(toHex(root.indexDigest), toHex(actual));
  return { kind, offsets: scanIndex(index) };
}

/** Unix seconds of `date`, as checkRoot takes them. */
export function unixSeconds(date: Date = new Date()): bigint {
  return BigInt(Math.floor(date.getTime() / 1000));
}
