// A blob's chunk list as its record stores it (digest and size per entry), kept as the
// table's bytes with one array of content offsets, not an object per chunk: a 1 MiB range
// read of a 1 GiB blob needs about 17 of its 13,500 entries, and building every ChunkRef
// (with a Uint8Array per digest) made GC 46% of a loop of such reads (cpu profile).
// ChunkRefs are made for the entries asked for; list() makes all of them, once.

import { CorruptRecordError, type ChunkRef, type Digest } from '../blob-service.js';
import { asDigest } from '../digest.js';

/** Bytes of one table entry: digest (32) | size u32 LE (4). */
export const TABLE_ENTRY_LEN = 36;

export class ChunkTable {
  /** Entries, when built from the record's bytes. */
  readonly #bytes: Uint8Array | undefined;
  /** Entries, when built from a list. */
  #list: ChunkRef[] | undefined;
  /** starts[i] is chunk i's content offset; starts[count] is the blob's size. */
  readonly #starts: Float64Array;
  readonly count: number;

  private constructor(bytes: Uint8Array | undefined, list: ChunkRef[] | undefined, starts: Float64Array) {
    this.#bytes = bytes;
    this.#list = list;
    this.#starts = starts;
    this.count = starts.length - 1;
  }

  /**
   * The table of `blob`'s record (`count` entries in `table`), copied so that what is kept
   * pins the table and not the whole record; its sizes must be positive and add up to `size`.
   */
  static decode(blob: Digest, size: number, count: number, table: Uint8Array): ChunkTable {
    const own = table.slice(0, count * TABLE_ENTRY_LEN);
    const view = new DataView(own.buffer, own.byteOffset, own.byteLength);
    const starts = new Float64Array(count + 1);
    let total = 0;
    for (let i = 0; i < count; i++) {
      const n = view.getUint32(i * TABLE_ENTRY_LEN + 32, true);
      if (n === 0) throw new CorruptRecordError(blob, `chunk ${i} has size 0`);
      total += n;
      starts[i + 1] = total;
    }
    if (total !== size) throw new CorruptRecordError(blob, `chunk sizes add up to ${total}, not the size ${size}`);
    return new ChunkTable(own, undefined, starts);
  }

  /** A table over chunks already listed. */
  static of(chunks: readonly ChunkRef[]): ChunkTable {
    const starts = new Float64Array(chunks.length + 1);
    for (let i = 0; i < chunks.length; i++) starts[i + 1] = starts[i]! + chunks[i]!.size;
    return new ChunkTable(undefined, [...chunks], starts);
  }

  get size(): number {
    return this.#starts[this.count]!;
  }

  ref(i: number): ChunkRef {
    if (this.#list !== undefined) return this.#list[i]!;
    const at = i * TABLE_ENTRY_LEN;
    return { digest: asDigest(this.#bytes!.subarray(at, at + 32)), size: this.#starts[i + 1]! - this.#starts[i]! };
  }

  /** Content offset of chunk `i` (the size for i = count). */
  start(i: number): number {
    return this.#starts[i]!;
  }

  /** Index of the chunk holding content byte `offset` (which must be below the size). */
  chunkAt(offset: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Every entry as a ChunkRef (made once). */
  list(): ChunkRef[] {
    this.#list ??= Array.from({ length: this.count }, (_, i) => this.ref(i));
    return this.#list;
  }
}
