// Lookups by name in an Index that scanIndex accepted and that is held in memory: a
// binary search over the entry offsets the scan recorded, decoding only the entries it
// probes (about 17 of 100,000). Cold lookups in a stored Index use lookup-table.ts.

import { compareNames } from '../castore/index.js';
import { decodeEntryAt, entryNameAt } from './index-codec.js';
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
