// Serving what a partial blob holds: verified bytes of a range, and bao slices (length
// header, then parents and groups in pre-order, exactly what a decoder of those ranges
// reads). Every group is read from the content file and hashed against the outboard
// before it is handed out: the bitfield says where to look, never what is true.

import type { FileHandle } from 'node:fs/promises';
import { normalizeRanges, type ByteRange } from '../../verify/index.js';
import { HEADER_LEN, PARENT_LEN } from '../../verify/index.js';
import { walk } from '../../verify/index.js';
import type { VerifiedOutboard } from '../../verify/index.js';
import { UnexpectedEofError } from '../../verify/index.js';
import { fsError } from '../fs/index.js';
import { CorruptPartialError, GroupNotHeldError } from './partial-errors.js';

/** Content read and hashed per step (a whole number of groups). */
export const READ_BATCH = 1 << 20;
/** Slice output is gathered into pieces of about this size. */
const OUT_BLOCK = 64 << 10;

/** What serving needs of a partial blob. */
export interface HeldContent {
  readonly tree: VerifiedOutboard;
  readonly content: FileHandle;
  has(group: number): boolean;
  /** Forgets a held group whose bytes no longer verify (it will be fetched again). */
  dropGroup(group: number): void;
}

/** Exactly `n` bytes of content at `position`, in a fresh buffer. */
export async function readContent(fh: FileHandle, position: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  for (let got = 0; got < n;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(buf, got, n - got, position + got));
    } catch (err: unknown) {
      throw fsError(err, 'partial content', 'reading');
    }
    if (bytesRead === 0) throw new UnexpectedEofError(position + got, n - got);
    got += bytesRead;
  }
  return buf;
}

/**
 * Reads groups first..first+count-1 and verifies them. Resolves to the bytes of the
 * leading groups that verify; if one does not, it is dropped and CORRUPT_PARTIAL is
 * thrown after `onGood` got the verified bytes before it.
 */
export async function readVerified(
  held: HeldContent, first: number, count: number, onGood?: (bytes: Uint8Array) => void,
): Promise<Uint8Array> {
  const { tree } = held;
  const start = first * tree.groupBytes;
  const end = Math.min(tree.length, (first + count) * tree.groupBytes);
  let bytes: Uint8Array;
  try {
    bytes = await readContent(held.content, start, end - start);
  } catch (err: unknown) {
    throw err instanceof UnexpectedEofError ? new CorruptPartialError(tree.hash, `its content file was cut short at ${err.offset}`, { cause: err }) : err;
  }
  const ok = tree.verifyGroups(first, bytes);
  if (ok < count) {
    onGood?.(bytes.subarray(0, ok * tree.groupBytes));
    held.dropGroup(first + ok);
    throw new CorruptPartialError(tree.hash, `held group ${first + ok} no longer verifies; it is marked missing`);
  }
  return bytes;
}

/** Groups [first, end) of the content bytes [start, end), at least one. */
export function groupsOf(tree: VerifiedOutboard, start: number, end: number): { first: number; end: number } {
  const first = Math.min(Math.floor(start / tree.groupBytes), tree.groupCount - 1);
  return { first, end: Math.max(first + 1, Math.ceil(end / tree.groupBytes)) };
}

/** Throws GROUP_NOT_HELD for the first group of [first, end) not held. */
export function requireHeld(held: HeldContent, first: number, end: number): void {
  for (let i = first; i < end; i++) if (!held.has(i)) throw new GroupNotHeldError(held.tree.hash, i);
}

/** The verified bytes of [start, end) (already clipped to the content, non-empty), every group of which is held. */
export async function* readRange(held: HeldContent, start: number, end: number): AsyncGenerator<Uint8Array> {
  const { tree } = held;
  const span = groupsOf(tree, start, end);
  const perBatch = READ_BATCH / tree.groupBytes;
  for (let g = span.first; g < span.end; g += perBatch) {
    const n = Math.min(perBatch, span.end - g);
    const at = g * tree.groupBytes;
    const clip = (bytes: Uint8Array): Uint8Array => bytes.subarray(Math.max(0, start - at), Math.max(0, Math.min(bytes.length, end - at)));
    let good: Uint8Array | undefined;
    let bytes: Uint8Array;
    try {
      bytes = await readVerified(held, g, n, (b) => { good = b; });
    } catch (err: unknown) {
      if (good !== undefined && clip(good).length > 0) yield clip(good);
      throw err;
    }
    yield clip(bytes);
  }
}

/** The groups a slice of `ranges` carries; GROUP_NOT_HELD if one is not held. Resolves to the normalised selection. */
export function checkSlice(held: HeldContent, ranges: readonly ByteRange[]): ByteRange[] {
  const { tree } = held;
  const { select } = normalizeRanges(ranges, tree.length);
  for (const step of walk(tree.length, tree.groupLog, select)) {
    if (step.kind === 'group' && !held.has(step.start / tree.groupBytes)) throw new GroupNotHeldError(tree.hash, step.start / tree.groupBytes);
  }
  return select;
}

/**
 * A bao slice of the normalised selection `select` (see checkSlice): the outboard's
 * length header, then the parents and groups a decoder of those ranges reads, in
 * pre-order. Content is read in windows of up to 1 MiB of groups, each hashed at once.
 */
export async function* slice(held: HeldContent, select: readonly ByteRange[]): AsyncGenerator<Uint8Array> {
  const { tree } = held;
  const gb = tree.groupBytes;
  let parts: Uint8Array[] = [];
  let fill = 0;
  const put = (b: Uint8Array): void => {
    parts.push(b);
    fill += b.length;
  };
  const take = (): Uint8Array => {
    // Always a copy: the pieces are views of the outboard and the window, which are ours.
    const out = new Uint8Array(fill);
    for (let i = 0, at = 0; i < parts.length; at += parts[i]!.length, i++) out.set(parts[i]!, at);
    parts = [];
    fill = 0;
    return out;
  };

  let window: { start: number; bytes: Uint8Array } = { start: 0, bytes: new Uint8Array(0) };
  let ri = 0;
  const groupAt = async (start: number, len: number): Promise<Uint8Array> => {
    const off = start - window.start;
    if (off < 0 || off + len > window.bytes.length) {
      while (ri < select.length - 1 && select[ri]!.end <= start) ri++;
      const rangeEnd = Math.min(tree.length, Math.ceil(Math.max(select[ri]!.end, start + len) / gb) * gb);
      const end = Math.max(start + len, Math.min(rangeEnd, start + READ_BATCH));
      const first = start / gb;
      window = { start, bytes: await readVerified(held, first, Math.max(1, Math.ceil((end - start) / gb))) };
      return window.bytes.subarray(0, len);
    }
    return window.bytes.subarray(off, off + len);
  };

  put(tree.outboard.subarray(0, HEADER_LEN));
  let ob = HEADER_LEN;
  for (const step of walk(tree.length, tree.groupLog, select)) {
    if (step.kind === 'skip') {
      ob += step.nodeBytes;
    } else if (step.kind === 'parent') {
      put(tree.outboard.subarray(ob, ob + PARENT_LEN));
      ob += PARENT_LEN;
    } else {
      if (step.len === 0) {
        // The empty content's one group: nothing to send, but its check is the root hash.
        if (tree.verifyGroups(0, new Uint8Array(0)) !== 1) throw new CorruptPartialError(tree.hash, 'its digest is not the empty content\'s');
        continue;
      }
      put(await groupAt(step.start, step.len));
    }
    if (fill >= OUT_BLOCK) yield take();
  }
  if (fill > 0) yield take();
}
