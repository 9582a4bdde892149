// Typed errors of partial blobs (downloads under way in the data dir). Group data that
// fails verification is the verify layer's HASH_MISMATCH; these are the store's own.

import { toHex } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';

/** Another live process (or another PartialBlob in this one) holds the partial of this digest. */
export class PartialBusyError extends CastorError {
  constructor(readonly digest: Uint8Array, readonly holder: string, options?: { cause?: unknown }) {
    super('PARTIAL_BUSY', `partial blob ${toHex(digest)} is being written by ${holder}`, holder, options);
  }
}

/** A range to serve covers a group this partial does not hold (yet). */
export class GroupNotHeldError extends CastorError {
  constructor(readonly digest: Uint8Array, readonly group: number) {
    super('GROUP_NOT_HELD', `partial blob ${toHex(digest)} does not hold group ${group}`, group);
  }
}

/**
 * What is on disk for a partial is inconsistent: a missing or malformed file, an outboard
 * that no longer verifies, or held group bytes that no longer hash to their value.
 */
export class CorruptPartialError extends CastorError {
  constructor(readonly digest: Uint8Array, detail: string, options?: { cause?: unknown }) {
    super('CORRUPT_PARTIAL', `partial blob ${toHex(digest)} is corrupt: ${detail}`, toHex(digest), options);
  }
}

/** complete() before every group is held. */
export class PartialIncompleteError extends CastorError {
  constructor(readonly digest: Uint8Array, readonly missing: number) {
    super('PARTIAL_INCOMPLETE', `partial blob ${toHex(digest)} still misses ${missing} group(s)`, missing);
  }
}

/** begin() with a size other than that of the partial already on disk for the digest. */
export class PartialSizeMismatchError extends CastorError {
  constructor(readonly digest: Uint8Array, readonly existing: number, readonly given: number) {
    super('PARTIAL_SIZE_MISMATCH', `partial blob ${toHex(digest)} on disk is ${existing} bytes, not ${given}`, given);
  }
}

/** The store computed another digest for the completed content than the partial's. */
export class PartialDigestMismatchError extends CastorError {
  constructor(readonly digest: Uint8Array, readonly got: Uint8Array) {
    super('DIGEST_MISMATCH', `partial blob ${toHex(digest)} completed as ${toHex(got)}`, toHex(got));
  }
}

/** Use of a PartialBlob after close(), complete() or abort(), or a write on a read-only view. */
export class PartialClosedError extends CastorError {
  constructor(state: string) {
    super('PARTIAL_CLOSED', `partial blob is ${state}`, state);
  }
}
