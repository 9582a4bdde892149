// A cheap check of content against an outboard that already verified against the digest,
// for a store writer told the digest and outboard up front instead of hashing the blob
// (its caller's verifying decoder hashed every byte already). Every SAMPLE_EVERY-th
// 16 KiB group, and the last, is hashed against the outboard as the content streams
// past, and the length must come out exact: bytes of another blob, another length, or an
// outboard that is not this content's are refused before a record can name them. A byte
// changed inside a group that is not sampled passes here; reads of the blob hash every
// group they return and catch it, as they catch a chunk damaged on disk.

import type { VerifiedOutboard } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';

/** Groups hashed: one in this many (about 1.6% of a full hash), plus the last. */
export const SAMPLE_EVERY = 64;

/** The content written is not as long as the outboard says. */
export class ContentLengthError extends CastorError {
  constructor(readonly written: number, readonly expected: number) {
    super('LENGTH_MISMATCH', `${written} content bytes written, the outboard says ${expected}`, written);
  }
}

export class GroupSampleCheck {
  readonly #tree: VerifiedOutboard;
  #pos = 0;
  /** A sampled group's bytes while they arrive over more than one push. */
  #carry: Uint8Array | undefined;

  constructor(tree: VerifiedOutboard) {
    this.#tree = tree;
  }

  /** The next `bytes` of the content, in order. HASH_MISMATCH at a sampled group that does not verify; LENGTH_MISMATCH past the end. */
  push(bytes: Uint8Array): void {
    const tree = this.#tree;
    const start = this.#pos;
    const end = start + bytes.length;
    if (end > tree.length) throw new ContentLengthError(end, tree.length);
    this.#pos = end;
    if (bytes.length === 0) return;
    const gb = tree.groupBytes;
    const last = tree.groupCount - 1;
    const first = Math.floor(start / gb);
    const lastHere = Math.floor((end - 1) / gb);
    for (let g = Math.ceil(first / SAMPLE_EVERY) * SAMPLE_EVERY; g <= lastHere; g += SAMPLE_EVERY) this.#take(g, bytes, start, end);
    if (lastHere === last && last % SAMPLE_EVERY !== 0) this.#take(last, bytes, start, end);
  }

  /** Once everything was pushed: LENGTH_MISMATCH unless it was exactly the outboard's length. */
  finish(): void {
    const tree = this.#tree;
    if (this.#pos !== tree.length) throw new ContentLengthError(this.#pos, tree.length);
    if (tree.length === 0) tree.checkGroup(0, new Uint8Array(0));
  }

  /** The part of group `g` inside `bytes` (content [start, end)): checked once the group is whole. */
  #take(g: number, bytes: Uint8Array, start: number, end: number): void {
    const r = this.#tree.groupRange(g);
    if (r.start >= start && r.end <= end) {
      this.#tree.checkGroup(g, bytes.subarray(r.start - start, r.end - start));
      return;
    }
    const from = Math.max(r.start, start);
    const to = Math.min(r.end, end);
    if (from >= to) return;
    this.#carry ??= new Uint8Array(this.#tree.groupBytes);
    this.#carry.set(bytes.subarray(from - start, to - start), from - r.start);
    if (to === r.end) this.#tree.checkGroup(g, this.#carry.subarray(0, r.end - r.start));
  }
}
