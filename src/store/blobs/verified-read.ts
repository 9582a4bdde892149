// The read path every BlobService shares: bao-decode a range from a stored outboard and
// stored data, so no byte reaches a caller unverified, and turn a verification failure
// into a store error that says what in the store is bad.

import { decode, OutboardSource, type ByteReader } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type Digest, type ReadRange } from '../blob-service.js';

/** Decoder failures that mean the stored data or outboard is bad, not that the caller erred. */
const VERIFY_FAILURES = new Set(['HASH_MISMATCH', 'UNEXPECTED_EOF', 'LENGTH_TOO_LARGE']);

export interface VerifiedReadParts {
  digest: Digest;
  /** The stored outboard, header first. */
  outboard: ByteReader;
  /** The stored content, from offset 0 (the decoder skips what the range does not need). */
  data: ByteReader;
  range?: ReadRange;
  /**
   * Explains a verification failure as a store error. `contentOffset` is where the bad
   * group or subtree starts in the content (the decoder's HASH_MISMATCH value).
   */
  blame: (err: CastorError, contentOffset: number) => Promise<Error>;
  /** Releases files and the like, however the stream ends (including an early `break`). */
  release?: () => Promise<void>;
}

export async function* verifiedRead(parts: VerifiedReadParts): AsyncGenerator<Uint8Array> {
  const { digest, outboard, data, range, blame, release } = parts;
  try {
    const source = new OutboardSource(outboard, data);
    yield* decode(source, { hash: digest, groupLog: BLOB_GROUP_LOG, ranges: range ? [range] : undefined });
  } catch (err: unknown) {
    if (err instanceof CastorError && VERIFY_FAILURES.has(err.code)) {
      const offset = err.code === 'HASH_MISMATCH' && typeof err.value === 'number' ? err.value : 0;
      throw await blame(err, offset);
    }
    throw err;
  } finally {
    await release?.();
  }
}
