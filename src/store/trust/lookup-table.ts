// The lookup table a data dir keeps beside each accepted Index, so a process that starts
// cold finds a name with one verified range read of the Index instead of reading it all:
// the Index is cut into blocks of BLOCK_ENTRIES entries, and the table holds where each
// block starts and its first name. A lookup binary-searches the names in memory, reads
// that one block (bao-verified) and walks at most BLOCK_ENTRIES entries in it.
//
// Layout (all integers little-endian):
//   u32 entries, u32 entries per block, u32 blocks,
//   per block: u32 offset of its first entry, u16 name length, the name,
//   u32 the Index's length.
// The table is derived data: the accepted-root record names its BLAKE3, and a table that
// is missing, does not match, or does not parse is rebuilt from the (verified) Index.

import { MAX_NAME_LENGTH, compareNames } from '../castore/index.js';
import { decodeEntryAt, entryNameAt, entrySpanEnd } from './index-codec.js';
import type { IndexEntry } from './index-model.js';

/** Entries per block: about 64 KiB of Nix-shaped entries, 11 KiB of bare ones. */
export const BLOCK_ENTRIES = 128;

/** Builds the table of an Index from its bytes and the offsets scanIndex returned. */
export function buildLookupTable(index: Uint8Array, offsets: Uint32Array, blockEntries = BLOCK_ENTRIES): Uint8Array {
  const count = offsets.length - 1;
  const blocks = Math.ceil(count / blockEntries);
  const names: Uint8Array[] = [];
  let size = 16;
  for (let k = 0; k < blocks; k++) {
    const i = k * blockEntries;
    const name = entryNameAt(index, offsets[i]!, offsets[i + 1]!);
    names.push(name);
    size += 6 + name.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, count, true);
  view.setUint32(4, blockEntries, true);
  view.setUint32(8, blocks, true);
  let at = 12;
  names.forEach((name, k) => {
    view.setUint32(at, offsets[k * blockEntries]!, true);
    view.setUint16(at + 4, name.length, true);
    out.set(name, at + 6);
    at += 6 + name.length;
  });
  view.setUint32(at, offsets[count]!, true);
  return out;
}

export class LookupTable {
  readonly entries: number;
  readonly blockEntries: number;
  /** Where block k starts; starts[blocks] is the Index's length. */
  readonly starts: Uint32Array;
  readonly firstNames: readonly Uint8Array[];

  private constructor(entries: number, blockEntries: number, starts: Uint32Array, firstNames: Uint8Array[]) {
    this.entries = entries;
    this.blockEntries = blockEntries;
    this.starts = starts;
    this.firstNames = firstNames;
  }

  /** The table in `bytes`, or undefined if they are not a well-formed one for `indexSize` bytes and `entries` entries. */
  static parse(bytes: Uint8Array, entries: number, indexSize: number): LookupTable | undefined {
    if (bytes.length < 16) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = view.getUint32(0, true);
    const blockEntries = view.getUint32(4, true);
    const blocks = view.getUint32(8, true);
    if (count !== entries || blockEntries === 0 || blocks !== Math.ceil(count / blockEntries)) return undefined;
    const starts = new Uint32Array(blocks + 1);
    const names: Uint8Array[] = [];
    let at = 12;
    for (let k = 0; k < blocks; k++) {
      if (at + 6 > bytes.length) return undefined;
      starts[k] = view.getUint32(at, true);
      const len = view.getUint16(at + 4, true);
      if (len === 0 || len > MAX_NAME_LENGTH || at + 6 + len > bytes.length) return undefined;
      if (k > 0 && starts[k]! <= starts[k - 1]!) return undefined;
      names.push(bytes.slice(at + 6, at + 6 + len));
      at += 6 + len;
    }
    if (at + 4 !== bytes.length) return undefined;
    starts[blocks] = view.getUint32(at, true);
    if (starts[blocks] !== indexSize || (blocks > 0 && (starts[0] !== 0 || starts[blocks - 1]! >= indexSize))) return undefined;
    return new LookupTable(count, blockEntries, starts, names);
  }

  /** The byte range of the block that holds `name` if any entry does, or undefined when it sorts before every entry. */
  blockOf(name: Uint8Array): { start: number; end: number; first: number } | undefined {
    let lo = 0;
    let hi = this.firstNames.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareNames(this.firstNames[mid]!, name) <= 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return undefined;
    const k = lo - 1;
    return { start: this.starts[k]!, end: this.starts[k + 1]!, first: k * this.blockEntries };
  }
}

/**
 * Finds `name` among the entries of one block (`block` holds its bytes, the first of
 * them entry number `first`), walking them in order and stopping once past it.
 */
export function findInBlock(block: Uint8Array, first: number, name: Uint8Array): IndexEntry | undefined {
  for (let p = 0, i = first; p < block.length; i++) {
    const end = entrySpanEnd(block, p);
    const order = compareNames(entryNameAt(block, p, end), name);
    if (order === 0) return decodeEntryAt(block, p, end, i);
    if (order > 0) return undefined;
    p = end;
  }
  return undefined;
}
