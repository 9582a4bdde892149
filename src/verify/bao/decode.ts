// The verifying decoder: walks the tree the ranges need, checks every parent
// against the value its own parent vouched for, and releases a group's bytes only
// after the group hashes to its expected value. Groups are checked in batches so
// the kernel hashes many chunks per call; nothing of a batch is released before
// its check, and a bad node stops the decode with the offset where it starts.

import { CHUNK_LEN } from '../blake3/index.js';
import type { Blake3Kernel } from '../blake3/index.js';
import { releaseKernel, takeKernel } from '../blake3/index.js';
import { HASH_MODE, wordsOf } from '../blake3/index.js';
import { hashUnits, subtreeOutput } from '../blake3/index.js';
import { HashMismatchError, InvalidInputError } from '../errors.js';
import { normalizeRanges, WHOLE, type ByteRange } from './ranges.js';
import { checkGroupLog, decodeLength, DEFAULT_GROUP_LOG } from './shape.js';
import type { TreeSource } from './sources.js';
import { walk } from './traverse.js';
import { checkParent, CvStack } from './cv-stack.js';
import { equalBytes, equalWords, loadWords } from './words.js';

const BATCH = 1 << 20;

export interface DecodeOptions {
  /** The trusted 32-byte BLAKE3 hash of the content. */
  hash: Uint8Array;
  groupLog?: number;
  /** Content ranges wanted; all of it when absent. */
  ranges?: readonly ByteRange[];
  kernel?: Blake3Kernel;
  /** Called once the final group has verified, with the now trusted length. */
  onLength?: (len: number) => void;
}

interface Pending {
  start: number;
  len: number;
  expected: Uint32Array;
  offset: number;
  /** The reader's view of the group's bytes (readers never overwrite what they handed out). */
  data: Uint8Array;
}

/** Yields verified content bytes of the requested ranges, in order. */
export async function* decode(source: TreeSource, options: DecodeOptions): AsyncGenerator<Uint8Array> {
  const { hash } = options;
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new InvalidInputError('hash must be 32 bytes', hash?.length);
  const g = checkGroupLog(options.groupLog ?? DEFAULT_GROUP_LOG);
  // A kernel of its own while the decode runs: the batch is gathered in the kernel's
  // memory, which must not be shared with other decodes interleaved at our awaits.
  const kernel = options.kernel ?? takeKernel();
  try {
    yield* decodeWith(source, options, g, kernel);
  } finally {
    if (options.kernel === undefined) releaseKernel(kernel);
  }
}

async function* decodeWith(source: TreeSource, options: DecodeOptions, g: number, kernel: Blake3Kernel): AsyncGenerator<Uint8Array> {
  const { hash } = options;
  const mode = HASH_MODE;
  const unitBytes = CHUNK_LEN << g;

  const len = decodeLength(await source.header());
  const { select, output } = normalizeRanges(options.ranges ?? WHOLE, len);
  const expect = new CvStack();
  expect.push(wordsOf(hash), 0);
  const block = new Uint32Array(16);
  const cv = new Uint32Array(8);

  let fill = 0;
  let pending: Pending[] = [];
  const cvs = new Uint32Array(8 * (BATCH / unitBytes));
  let fallback: Uint8Array | undefined;

  // Yields the requested part of content [start, start+bytes.length).
  function* release(bytes: Uint8Array, start: number): Generator<Uint8Array> {
    const end = start + bytes.length;
    for (const r of output) {
      if (r.end <= start) continue;
      if (r.start >= end) break;
      yield bytes.subarray(Math.max(r.start, start) - start, Math.min(r.end, end) - start);
    }
  }

  // Releases verified groups, joining neighbours that sit side by side in one buffer.
  function* releaseGroups(groups: Pending[]): Generator<Uint8Array> {
    let run: Uint8Array | undefined;
    let runStart = 0;
    for (const p of groups) {
      const d = p.data;
      if (run && run.buffer === d.buffer && run.byteOffset + run.length === d.byteOffset) {
        run = new Uint8Array(d.buffer, run.byteOffset, run.length + d.length);
        continue;
      }
      if (run) yield* release(run, runStart);
      run = d;
      runStart = p.start;
    }
    if (run) yield* release(run, runStart);
  }

  function* flush(): Generator<Uint8Array> {
    if (pending.length === 0) return;
    const groups = pending;
    pending = [];
    // The groups' bytes are gathered once, into kernel memory when it has some; the
    // bytes released are the reader's own views, so nothing is copied twice.
    const input = kernel.scratch(fill) ?? (fallback ??= new Uint8Array(BATCH)).subarray(0, fill);
    for (let i = 0, o = 0; i < groups.length; o += groups[i]!.len, i++) input.set(groups[i]!.data, o);
    fill = 0;
    hashUnits(kernel, input, groups[0]!.start / CHUNK_LEN, g, mode, cvs, 0);
    for (let i = 0; i < groups.length; i++) {
      const p = groups[i]!;
      if (!equalWords(cvs.subarray(8 * i, 8 * i + 8), p.expected)) {
        yield* releaseGroups(groups.slice(0, i));
        throw new HashMismatchError(`group of content bytes ${p.start}..${p.start + p.len}`, p.offset, p.start);
      }
    }
    yield* releaseGroups(groups);
  }

  for (const step of walk(len, g, select)) {
    if (step.kind === 'skip') {
      expect.drop();
      await source.skip(step.nodeBytes, step.len);
    } else if (step.kind === 'parent') {
      const offset = source.parentOffset();
      const node = source.parentNow() ?? (await source.parent());
      loadWords(node, block);
      if (!checkParent(expect, block, step.root, hash, mode, cv)) {
        yield* flush();
        throw new HashMismatchError(`parent node over content bytes ${step.start}..${step.start + step.len}`, offset, step.start);
      }
    } else {
      const want = expect.pop();
      const offset = source.groupOffset();
      const data = source.groupNow(step.len) ?? (await source.group(step.len));
      if (step.final || step.root) {
        yield* flush();
        const out = subtreeOutput(kernel, data, step.start / CHUNK_LEN, mode);
        const ok = step.root ? equalBytes(out.rootBytes(32), hash) : equalWords(out.chainingValue(), want);
        if (!ok) throw new HashMismatchError(`final group of content bytes ${step.start}..${step.start + step.len}`, offset, step.start);
        options.onLength?.(len);
        yield* release(data, step.start);
      } else {
        const contiguous = pending.length === 0 || pending[0]!.start + fill === step.start;
        if (!contiguous || fill + step.len > BATCH) yield* flush();
        fill += step.len;
        pending.push({ start: step.start, len: step.len, expected: want, offset, data });
      }
    }
  }
  yield* flush();
}
