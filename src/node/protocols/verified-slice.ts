// The server's side of a blob request: the bao slice of some ranges, built in the same
// pass that verifies them. The decoder walks the stored outboard and data; every node it
// reads is recorded, and a node is let out only once the decoder has vouched for it (a
// group when its bytes were released, a parent when a later group was), so no byte
// leaves this node toward a peer unverified, and the blob is hashed once, not twice.

import { decode, normalizeRanges, OutboardSource, type ByteRange, type ByteReader } from '../../verify/bao/index.js';
import { BLOB_GROUP_LOG, type Digest } from '../../store/blob-service.js';

/** One node of the slice: the length header, a parent, or a group of content [start, end). */
export interface SliceItem {
  readonly bytes: Uint8Array;
  /** Content range of a group; undefined for the header and parents. */
  readonly start?: number;
  readonly end?: number;
}

/** A TreeSource over outboard + data that records, in order, what the decoder read. */
class RecordingSource extends OutboardSource {
  readonly items: SliceItem[] = [];
  #head = 0;
  #data: ByteReader;

  constructor(outboard: ByteReader, data: ByteReader) {
    super(outboard, data);
    this.#data = data;
  }

  override async header(): Promise<Uint8Array> {
    const h = await super.header();
    this.items.push({ bytes: h });
    return h;
  }
  override async parent(): Promise<Uint8Array> {
    const p = await super.parent();
    this.items.push({ bytes: p });
    return p;
  }
  override parentNow(): Uint8Array | null {
    const p = super.parentNow();
    if (p) this.items.push({ bytes: p });
    return p;
  }
  override async group(len: number): Promise<Uint8Array> {
    const start = this.#data.position;
    const g = await super.group(len);
    this.items.push({ bytes: g, start, end: start + len });
    return g;
  }
  override groupNow(len: number): Uint8Array | null {
    const start = this.#data.position;
    const g = super.groupNow(len);
    if (g) this.items.push({ bytes: g, start, end: start + len });
    return g;
  }

  /** Takes the recorded items up to and including the last group ending at or before `verified`. */
  take(verified: number): SliceItem[] {
    let last = -1;
    for (let i = this.#head; i < this.items.length; i++) {
      const end = this.items[i]!.end;
      if (end !== undefined) {
        if (end <= verified) last = i;
        else break;
      }
    }
    return this.#cut(last + 1);
  }

  /** Everything recorded and not yet taken (once the decode has succeeded). */
  rest(): SliceItem[] {
    return this.#cut(this.items.length);
  }

  #cut(to: number): SliceItem[] {
    const out = this.items.slice(this.#head, to);
    this.#head = Math.max(this.#head, to);
    if (this.#head > 4096) {
      this.items.splice(0, this.#head);
      this.#head = 0;
    }
    return out;
  }
}

/** The ranges rounded out to whole groups: what the walk reads of the data. */
export function groupRanges(ranges: readonly ByteRange[], len: number): ByteRange[] {
  const gb = 1024 << BLOB_GROUP_LOG;
  return normalizeRanges(ranges, len).select.map((r) => ({
    start: Math.floor(r.start / gb) * gb,
    end: Math.min(len, Math.ceil(r.end / gb) * gb),
  }));
}

/**
 * Yields the slice of `ranges` of blob `digest` (length header first), in verified pieces.
 * `outboard` is the stored outboard (its length header says `len`), `data` reads the
 * stored content at content offsets. Throws the decoder's error (HASH_MISMATCH,
 * UNEXPECTED_EOF) if the stored blob is bad, having yielded only nodes that verified.
 */
export async function* verifiedSlice(
  digest: Digest, len: number, outboard: ByteReader, data: ByteReader, ranges: readonly ByteRange[],
): AsyncGenerator<SliceItem[]> {
  const source = new RecordingSource(outboard, data);
  // Group-aligned ranges, so the released bytes map onto whole groups; the walk (and so
  // the slice) is the same as for the ranges asked.
  const aligned = groupRanges(ranges, len);
  const output = normalizeRanges(aligned, len).output;
  let ri = 0;
  let pos = output[0]?.start ?? 0;
  for await (const piece of decode(source, { hash: digest, groupLog: BLOB_GROUP_LOG, ranges: aligned })) {
    // The decoder releases the output ranges in order: advance through them.
    let n = piece.length;
    while (n > 0) {
      const r = output[ri]!;
      const take = Math.min(n, r.end - pos);
      pos += take;
      n -= take;
      if (pos === r.end && ri + 1 < output.length) pos = output[++ri]!.start;
    }
    const items = source.take(pos);
    if (items.length > 0) yield items;
  }
  const rest = source.rest();
  if (rest.length > 0) yield rest;
}
