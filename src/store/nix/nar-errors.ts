// Typed errors of the NAR codec: a NAR refused by the parser (where and why), and a
// tree that cannot be rendered as the NAR its nodes promise.

import { CastorError } from '../../verify/index.js';
import { formatDigest, type Digest } from '../digest.js';

/**
 * Which rule a NAR broke. Stable, like `code`: tests and callers match on it; the
 * message around it may change.
 */
export type NarFormatReason =
  | 'BAD_MAGIC' // not "nix-archive-1"
  | 'TRUNCATED' // the input ended inside the archive (a length beyond what follows included)
  | 'BAD_PADDING' // a non-zero byte where a string's zero padding belongs
  | 'UNEXPECTED_TAG' // a string other than the one(s) the grammar allows here
  | 'UNKNOWN_TYPE' // a node type other than regular, symlink, directory
  | 'TOO_LARGE' // a file size of 2^53 or more (a string too long for its place gets that place's reason)
  | 'INVALID_NAME' // empty, ".", "..", or holding "/" or NUL
  | 'UNSORTED' // an entry name not after the previous one in bytewise order
  | 'DUPLICATE_NAME' // an entry name equal to the previous one
  | 'INVALID_TARGET' // a symlink target that is empty or holds NUL
  | 'TOO_DEEP' // directories nested deeper than MAX_NAR_DEPTH
  | 'TRAILING_BYTES'; // bytes after the root node's closing ")"

/** A NAR the strict parser refuses. `offset` is the byte where the offending item starts. */
export class NarFormatError extends CastorError {
  readonly offset: number;
  readonly reason: NarFormatReason;
  constructor(reason: NarFormatReason, offset: number, detail: string, value?: unknown) {
    super('NAR_MALFORMED', `malformed NAR at byte ${offset}: ${detail}`, value ?? offset);
    this.offset = offset;
    this.reason = reason;
  }
}

/** A FileNode names a blob the BlobService does not hold, so its NAR cannot be rendered. */
export class NarMissingBlobError extends CastorError {
  readonly digest: Digest;
  constructor(digest: Digest) {
    super('MISSING_BLOB', `blob ${formatDigest(digest)} is not in the store`, formatDigest(digest));
    this.digest = digest;
  }
}

/** A blob's verified content has another length than its FileNode (and so the NAR's header) says. */
export class NarFileSizeError extends CastorError {
  readonly digest: Digest;
  constructor(digest: Digest, claimed: bigint, actual: number, more: boolean) {
    super('SIZE_MISMATCH', `blob ${formatDigest(digest)} has ${more ? 'more than ' : ''}${actual} bytes, its FileNode says ${claimed}`, claimed);
    this.digest = digest;
  }
}

/** A NarRender's consumer stopped before its end, so there is no narHash to report. */
export class NarAbandonedError extends CastorError {
  constructor(readonly emitted: number) {
    super('NAR_ABANDONED', `the NAR stream was closed after ${emitted} bytes, before its end`, emitted);
  }
}
