// Filling a partial blob from a peer's answer: a raw bao slice, read here against the
// partial's own verified outboard; or the bytes some verifying decoder released for some
// ranges, placed at their offsets. Ranges are rounded out to whole groups (missingRanges
// gives them so already), which selects the very same groups of the tree.

import { normalizeRanges, StreamReader, type ByteRange } from '../../verify/index.js';
import { decodeLength, HEADER_LEN, PARENT_LEN } from '../../verify/index.js';
import { walk } from '../../verify/index.js';
import { LengthMismatchError, type VerifiedOutboard } from '../../verify/index.js';
import { HashMismatchError, InvalidInputError } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type Digest } from '../blob-service.js';

/** What filling needs of a partial blob. */
export interface Fillable {
  readonly digest: Digest;
  readonly size: number;
  readonly groupBytes: number;
  readonly tree: VerifiedOutboard;
  write(offset: number, bytes: Uint8Array): Promise<number>;
}

/**
 * `ranges` rounded out to the groups a bao slice of them carries (bao rules: an empty or
 * past-the-end range means the final group), clipped to `size`. The empty blob's one
 * group is the range 0..0.
 */
export function groupAligned(ranges: readonly ByteRange[], size: number, groupBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.end < r.start) {
      throw new InvalidInputError(`range ${r.start}..${r.end} is not a range of content bytes`, r);
    }
    const start = Math.min(r.start, Math.max(0, size - 1));
    const end = Math.min(size, Math.max(r.end, start + 1));
    out.push({ start: Math.floor(start / groupBytes) * groupBytes, end: Math.min(size, Math.ceil(end / groupBytes) * groupBytes) });
  }
  return out;
}

/**
 * Writes what a verifying decoder of `ranges` (over this blob) released: its output is
 * the bytes of those ranges clipped to the size, in order, and each piece goes to its
 * offset. Use group-aligned ranges so pieces are whole groups. Once the decoder has
 * finished without error, the empty blob's one group is stored too (the decoder
 * checked it against the root). Resolves to the number of groups newly held. Errors
 * of the decoder propagate after everything it released before them was stored.
 */
export async function writeDecoded(p: Fillable, ranges: readonly ByteRange[], decoded: AsyncIterable<Uint8Array>): Promise<number> {
  const { output } = normalizeRanges(ranges, p.size);
  let ri = 0;
  let pos = output[0]?.start ?? 0;
  let newly = 0;
  for await (const piece of decoded) {
    let rest = piece;
    while (rest.length > 0) {
      const r = output[ri];
      if (r === undefined) throw new InvalidInputError('the decoder released more bytes than the ranges hold', piece.length);
      const take = Math.min(rest.length, r.end - pos);
      newly += await p.write(pos, rest.subarray(0, take));
      pos += take;
      rest = rest.subarray(take);
      if (pos === r.end) pos = output[++ri]?.start ?? pos;
    }
  }
  if (p.size === 0) newly += await p.write(0, new Uint8Array(0));
  return newly;
}

/** Content bytes gathered before one write: whole groups, checked in one batch. */
const WRITE_BATCH = 1 << 20;

/**
 * Reads `slice`, a peer's bao slice (G=4) of `ranges` of this blob, and writes its
 * groups. The partial already holds the verified outboard, so the peer's parents are
 * only compared with it (HASH_MISMATCH at the first that differs, its offset in the
 * slice) and each group is hashed once, by the partial's write, in batches of up to
 * 1 MiB: a bad group is HASH_MISMATCH after the groups before it were stored, a slice
 * cut short UNEXPECTED_EOF after every whole group before the cut was stored. The
 * length header must be the blob's size (LENGTH_MISMATCH). Bytes after the slice are
 * not read. Resolves to the number of groups newly held.
 */
export async function writeSlice(p: Fillable, ranges: readonly ByteRange[], slice: AsyncIterable<Uint8Array>): Promise<number> {
  const { select } = normalizeRanges(groupAligned(ranges, p.size, p.groupBytes), p.size);
  const reader = new StreamReader(slice);
  const len = decodeLength(await reader.read(HEADER_LEN));
  if (len !== p.size) throw new LengthMismatchError(len, p.size);
  const outboard = p.tree.outboard;
  let ob = HEADER_LEN;
  let newly = 0;
  let batch: Uint8Array[] = [];
  let batchStart = 0;
  let batchLen = 0;
  const flush = async (): Promise<void> => {
    if (batchLen === 0) return;
    const bytes = batch.length === 1 ? batch[0]! : new Uint8Array(Buffer.concat(batch, batchLen));
    batch = [];
    batchLen = 0;
    newly += await p.write(batchStart, bytes);
  };
  try {
    for (const step of walk(p.size, BLOB_GROUP_LOG, select)) {
      if (step.kind === 'skip') {
        ob += step.nodeBytes;
      } else if (step.kind === 'parent') {
        const at = reader.position;
        const node = await reader.read(PARENT_LEN);
        if (!equalBytes(node, outboard.subarray(ob, ob + PARENT_LEN))) {
          throw new HashMismatchError(`parent node over content bytes ${step.start}..${step.start + step.len}`, at, step.start);
        }
        ob += PARENT_LEN;
      } else if (step.len > 0) {
        const data = await reader.read(step.len);
        if (batchLen > 0 && (batchStart + batchLen !== step.start || batchLen + step.len > WRITE_BATCH)) await flush();
        if (batchLen === 0) batchStart = step.start;
        batch.push(data);
        batchLen += step.len;
      }
    }
  } finally {
    // What arrived whole before an error is stored too (and still checked by the write).
    await flush();
  }
  if (p.size === 0) newly += await p.write(0, new Uint8Array(0));
  return newly;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
