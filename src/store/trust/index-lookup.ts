// Lookups by name in an Index that scanIndex accepted: a binary search over the entry
// offsets it recorded, reading only the entries it probes (about 17 of 100,000), either
// in bytes held in memory or through verified range reads of the stored Index blob.

import { compareNames } from '../castore/index.js';
import type { BlobService } from '../blob-service.js';
import type { Digest } from '../digest.js';
import { decodeEntryAt, entryNameAt } from './index-codec.js';
import { readIndexRange } from './index-blob.js';
import type { IndexEntry } from './index-model.js';
import { scanIndex } from './index-scan.js';

/** An accepted Index in memory with its entry offsets: lookups without parsing it again. */
export class IndexView {
  readonly bytes: Uint8Array;
  /** `offsets[i]` is where entry i starts; the last element is bytes.length. */
  readonly offsets: Uint32Array;

  /** `offsets` must be what scanIndex returned for `bytes`; use IndexView.scan otherwise. */
  constructor(bytes: Uint8Array, offsets: Uint32Array) {
    this.bytes = bytes;
    this.offsets = offsets;
  }

  /** Checks `bytes` (scanIndex: throws InvalidIndexError) and indexes them. */
  static scan(bytes: Uint8Array): IndexView {
    return new IndexView(bytes, scanIndex(bytes));
  }

  get count(): number {
    return this.offsets.length - 1;
  }

  nameAt(i: number): Uint8Array {
    return entryNameAt(this.bytes, this.offsets[i]!, this.offsets[i + 1]!);
  }

  entryAt(i: number): IndexEntry {
    return decodeEntryAt(this.bytes, this.offsets[i]!, this.offsets[i + 1]!, i);
  }

  /** The entry number of `name`, or -1. */
  find(name: Uint8Array): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const order = compareNames(this.nameAt(mid), name);
      if (order === 0) return mid;
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  lookup(name: Uint8Array): IndexEntry | undefined {
    const i = this.find(name);
    return i < 0 ? undefined : this.entryAt(i);
  }

  *entries(): IterableIterator<IndexEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }
}

/**
 * Looks `name` up in the stored Index blob `digest` whose entry offsets are `offsets`,
 * reading (and bao-verifying) only the probed entries. Undefined if there is no such entry.
 */
export async function lookupInBlob(blobs: BlobService, digest: Digest, offsets: Uint32Array, name: Uint8Array): Promise<IndexEntry | undefined> {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const start = offsets[mid]!;
    const end = offsets[mid + 1]!;
    const bytes = await readIndexRange(blobs, digest, start, end);
    const order = compareNames(entryNameAt(bytes, 0), name);
    if (order === 0) return decodeEntryAt(bytes, 0, bytes.length, mid);
    if (order < 0) lo = mid + 1;
    else hi = mid;
  }
  return undefined;
}
