// Typed errors of composed stores: a lower tier (another store, later a peer) sent
// something that is not what the digest names. Each error names the tier and the digest,
// so a user can tell which store or peer is bad.

import { CastorError } from '../../verify/index.js';
import { showName } from '../castore/index.js';
import { type Digest, formatDigest } from '../digest.js';
import { MissingChildError } from '../directory-service.js';

/**
 * What a tier sent does not hash to the digest it was asked for (or, in a tree, to the
 * digest its parent names). For blobs `offset` is where in the content the first bad group
 * starts. Nothing of it was written to the local tier, and no byte of it reached the caller.
 */
export class TierHashMismatchError extends CastorError {
  readonly offset: number | undefined;
  constructor(
    readonly tier: string,
    readonly kind: 'blob' | 'directory',
    readonly expected: Digest,
    readonly actual: Digest | undefined,
    options?: { offset?: number; cause?: unknown },
  ) {
    const got = actual === undefined ? '' : ` (it hashes to ${formatDigest(actual)})`;
    const at = options?.offset === undefined ? '' : ` at content offset ${options.offset}`;
    super('HASH_MISMATCH', `${tier} sent a ${kind} that fails verification against ${formatDigest(expected)}${at}${got}`,
      formatDigest(expected), { cause: options?.cause });
    this.offset = options?.offset;
  }
}

/** A tier's recursive answer ended before a Directory that one of its parents names had arrived. */
export class TierMissingChildError extends MissingChildError {
  constructor(readonly tier: string, parent: Digest, childName: Uint8Array, child: Digest) {
    super(parent, childName, child);
    this.message = `${tier} ended the tree without child directory ${showName(childName)} (${formatDigest(child)}) of ${formatDigest(parent)}`;
  }
}
