// The serving side of verified streaming: the slice of some ranges built from an outboard
// and the content it covers, every node checked on the way out. Parents are checked
// top-down as the walk meets them (each against the value its verified parent holds);
// runs of groups are read straight into the kernel's memory, hashed in one call, and only
// then copied into the block that leaves. So a block is one contiguous buffer (a few
// large sends instead of a list of 16 KiB groups and 64-byte parents, which cost the
// transport one cipher call each) made only of nodes that verified, and the content is
// hashed once, copied once, and never allocated per piece.

import { CHUNK_LEN } from '../blake3/index.js';
import type { Blake3Kernel } from '../blake3/index.js';
import { HASH_MODE, wordsOf } from '../blake3/index.js';
import { releaseKernel, takeKernel } from '../blake3/index.js';
import { hashUnits, subtreeOutput } from '../blake3/index.js';
import { HashMismatchError, InvalidInputError } from '../errors.js';
import { checkParent, CvStack } from './cv-stack.js';
import { normalizeRanges, WHOLE, type ByteRange } from './ranges.js';
import type { ByteReader } from './readers.js';
import { checkGroupLog, decodeLength, DEFAULT_GROUP_LOG, groupBytes, HEADER_LEN, PARENT_LEN } from './shape.js';
import { walk } from './traverse.js';
import { equalBytes, equalWords, loadWords } from './words.js';

/** Content read at content offsets, into a buffer the slicer provides. */
export interface ContentSource {
  /** Fills `dst` with content bytes [pos, pos + dst.length); UNEXPECTED_EOF when the content ends first. */
  readInto(dst: Uint8Array, pos: number): void | Promise<void>;
}

export interface VerifiedSliceOptions {
  /** The trusted 32-byte BLAKE3 hash of the content. */
  hash: Uint8Array;
  groupLog?: number;
  /** Content ranges wanted; all of it when absent. */
  ranges?: readonly ByteRange[];
  /** Content bytes read and hashed at a time, so about the size of a block. @default 256 KiB */
  batchBytes?: number;
  /** The first batch's size; each next one doubles, up to batchBytes. @default batchBytes */
  firstBatchBytes?: number;
  kernel?: Blake3Kernel;
}

const DEFAULT_BATCH = 256 * 1024;

/** A group waiting in the batch: where its bytes are and where the error should point. */
interface GroupRef {
  readonly start: number;
  readonly len: number;
}

type Item = Uint8Array | GroupRef;

/** The blocks made so far and, when a node failed, the error to throw after them. */
interface Flushed {
  readonly block: Uint8Array | undefined;
  readonly error: Error | undefined;
}

/**
 * The slice of `ranges` (header, then parents and groups in pre-order, exactly what a
 * decoder of those ranges reads) in blocks of contiguous bytes. `outboard` is the
 * content's outboard, header first; `content` reads the content. A node that does not
 * verify ends it with HASH_MISMATCH (offset: the parent's outboard offset, or the
 * group's content offset), after every node before it and none after.
 */
export async function* verifiedSliceBlocks(outboard: ByteReader, content: ContentSource, options: VerifiedSliceOptions): AsyncGenerator<Uint8Array> {
  const { hash } = options;
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new InvalidInputError('hash must be 32 bytes', hash?.length);
  const g = checkGroupLog(options.groupLog ?? DEFAULT_GROUP_LOG);
  // A kernel of its own while the slice runs: the batch sits in its memory across our awaits.
  const kernel = options.kernel ?? takeKernel();
  try {
    yield* slice(outboard, content, options, g, kernel);
  } finally {
    if (options.kernel === undefined) releaseKernel(kernel);
  }
}

async function* slice(outboard: ByteReader, content: ContentSource, options: VerifiedSliceOptions, g: number, kernel: Blake3Kernel): AsyncGenerator<Uint8Array> {
  const { hash } = options;
  const gb = groupBytes(g);
  const batchBytes = Math.max(gb, Math.floor((options.batchBytes ?? DEFAULT_BATCH) / gb) * gb);
  let limit = Math.min(batchBytes, Math.max(gb, Math.floor((options.firstBatchBytes ?? batchBytes) / gb) * gb));
  const mode = HASH_MODE;

  const header = (await outboard.read(HEADER_LEN)).slice();
  const len = decodeLength(header);
  const { select } = normalizeRanges(options.ranges ?? WHOLE, len);
  const expect = new CvStack();
  expect.push(wordsOf(hash), 0);
  const block = new Uint32Array(16);
  const cv = new Uint32Array(8);

  let items: Item[] = [header];
  // The batch: consecutive whole groups of content [batchStart, batchStart + fill).
  let groups = 0;
  let batchStart = 0;
  let fill = 0;
  const wants = new Uint32Array(8 * (batchBytes / gb));
  const cvs = new Uint32Array(8 * (batchBytes / gb));
  let fallback: Uint8Array | undefined;
  const room = (n: number): Uint8Array => kernel.scratch(n) ?? (fallback === undefined || fallback.length < n ? (fallback = new Uint8Array(Math.max(n, batchBytes))) : fallback).subarray(0, n);

  /** One buffer of `items` up to (not including) item `end`; `input` holds content from `inputStart`. */
  const join = (end: number, input: Uint8Array | undefined, inputStart: number): Uint8Array | undefined => {
    let n = 0;
    for (let i = 0; i < end; i++) {
      const it = items[i]!;
      n += it instanceof Uint8Array ? it.length : it.len;
    }
    if (n === 0) return undefined;
    // Not zero-filled: every byte is written below. Fresh each time: the stream keeps it.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
    for (let i = 0, o = 0; i < end; i++) {
      const it = items[i]!;
      if (it instanceof Uint8Array) {
        out.set(it, o);
        o += it.length;
      } else {
        out.set(input!.subarray(it.start - inputStart, it.start - inputStart + it.len), o);
        o += it.len;
      }
    }
    return out;
  };

  /** Reads and checks the batch; the recorded items up to the first bad group as one block. */
  const flush = async (): Promise<Flushed> => {
    let input: Uint8Array | undefined;
    let end = items.length;
    let error: Error | undefined;
    if (groups > 0) {
      input = room(fill);
      await content.readInto(input, batchStart);
      hashUnits(kernel, input, batchStart / CHUNK_LEN, g, mode, cvs, 0);
      for (let i = 0, k = 0; k < items.length; k++) {
        const it = items[k]!;
        if (it instanceof Uint8Array) continue;
        if (!equalWords(cvs.subarray(8 * i, 8 * i + 8), wants.subarray(8 * i, 8 * i + 8))) {
          end = k;
          error = new HashMismatchError(`group of content bytes ${it.start}..${it.start + it.len}`, it.start, it.start);
          break;
        }
        i++;
      }
    }
    const out = join(end, input, batchStart);
    items = [];
    groups = 0;
    fill = 0;
    limit = Math.min(batchBytes, limit * 2);
    return { block: out, error };
  };

  for (const step of walk(len, g, select)) {
    if (step.kind === 'skip') {
      expect.drop();
      await outboard.skip(step.nodeBytes);
    } else if (step.kind === 'parent') {
      const offset = outboard.position;
      const node = outboard.readNow?.(PARENT_LEN) ?? (await outboard.read(PARENT_LEN));
      loadWords(node, block);
      if (!checkParent(expect, block, step.root, hash, mode, cv)) {
        const { block: out, error } = await flush();
        if (out !== undefined) yield out;
        throw error ?? new HashMismatchError(`parent node over content bytes ${step.start}..${step.start + step.len}`, offset, step.start);
      }
      items.push(node);
    } else if (step.final || step.root || step.len !== gb) {
      // The final group may be short and may be the root: checked on its own.
      const want = expect.pop();
      if (groups > 0) {
        const { block: out, error } = await flush();
        if (out !== undefined) yield out;
        if (error !== undefined) throw error;
      }
      const data = room(step.len);
      await content.readInto(data, step.start);
      const o = subtreeOutput(kernel, data, step.start / CHUNK_LEN, mode);
      const ok = step.root ? equalBytes(o.rootBytes(32), hash) : equalWords(o.chainingValue(), want);
      if (ok) items.push({ start: step.start, len: step.len });
      const out = join(items.length, data, step.start);
      items = [];
      if (out !== undefined) yield out;
      if (!ok) throw new HashMismatchError(`final group of content bytes ${step.start}..${step.start + step.len}`, step.start, step.start);
    } else {
      if (groups > 0 && (batchStart + fill !== step.start || fill + step.len > limit)) {
        const { block: out, error } = await flush();
        if (out !== undefined) yield out;
        if (error !== undefined) throw error;
      }
      if (groups === 0) batchStart = step.start;
      wants.set(expect.pop(), 8 * groups);
      groups++;
      fill += step.len;
      items.push({ start: step.start, len: step.len });
    }
  }
  const { block: out, error } = await flush();
  if (out !== undefined) yield out;
  if (error !== undefined) throw error;
}
