// The verifying decoder: walks the tree the ranges need, checks every parent
// against the value its own parent vouched for, and releases a group's bytes only
// after the group hashes to its expected value. Groups are checked in batches so
// the kernel hashes many chunks per call; nothing of a batch is released before
// its check, and a bad node stops the decode with the offset where it starts.

import { CHUNK_LEN } from '../blake3/constants.js';
import type { Blake3Kernel } from '../blake3/kernel.js';
import { defaultKernel } from '../blake3/kernel-instance.js';
import { HASH_MODE, wordsOf } from '../blake3/mode.js';
import { parentOutput } from '../blake3/output.js';
import { hashUnits, subtreeOutput } from '../blake3/subtree.js';
import { HashMismatchError, InvalidInputError } from '../errors.js';
import { normalizeRanges, WHOLE, type ByteRange } from './ranges.js';
import { checkGroupLog, decodeLength, DEFAULT_GROUP_LOG } from './shape.js';
import type { TreeSource } from './sources.js';
import { walk } from './traverse.js';

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
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Yields verified content bytes of the requested ranges, in order. */
export async function* decode(source: TreeSource, options: DecodeOptions): AsyncGenerator<Uint8Array> {
  const { hash } = options;
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new InvalidInputError('hash must be 32 bytes', hash?.length);
  const g = checkGroupLog(options.groupLog ?? DEFAULT_GROUP_LOG);
  const kernel = options.kernel ?? defaultKernel();
  const mode = HASH_MODE;
  const unitBytes = CHUNK_LEN << g;

  const len = decodeLength(await source.header());
  const { select, output } = normalizeRanges(options.ranges ?? WHOLE, len);
  const expect: Uint32Array[] = [wordsOf(hash)];

  let batch = new Uint8Array(BATCH);
  let fill = 0;
  let pending: Pending[] = [];
  const cvs = new Uint32Array(8 * (BATCH / unitBytes));

  // Yields the requested part of content [start, start+bytes.length).
  function* release(bytes: Uint8Array, start: number): Generator<Uint8Array> {
    const end = start + bytes.length;
    for (const r of output) {
      if (r.end <= start) continue;
      if (r.start >= end) break;
      yield bytes.subarray(Math.max(r.start, start) - start, Math.min(r.end, end) - start);
    }
  }

  function* flush(): Generator<Uint8Array> {
    if (pending.length === 0) return;
    const first = pending[0]!;
    hashUnits(kernel, batch.subarray(0, fill), first.start / CHUNK_LEN, g, mode, cvs, 0);
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      if (!equalWords(cvs.subarray(8 * i, 8 * i + 8), p.expected)) {
        yield* release(batch.subarray(0, i * unitBytes), first.start);
        pending = [];
        throw new HashMismatchError(`group of content bytes ${p.start}..${p.start + p.len}`, p.offset, p.start);
      }
    }
    const done = batch.subarray(0, fill);
    batch = new Uint8Array(BATCH);
    fill = 0;
    pending = [];
    yield* release(done, first.start);
  }

  for (const step of walk(len, g, select)) {
    if (step.kind === 'skip') {
      expect.pop();
      await source.skip(step.nodeBytes, step.len);
    } else if (step.kind === 'parent') {
      const want = expect.pop()!;
      const offset = source.parentOffset();
      const node = await source.parent();
      const words = wordsOf(node);
      const out = parentOutput(words.subarray(0, 8), words.subarray(8, 16), mode);
      const ok = step.root ? equalBytes(out.rootBytes(32), hash) : equalWords(out.chainingValue(), want);
      if (!ok) {
        yield* flush();
        throw new HashMismatchError(`parent node over content bytes ${step.start}..${step.start + step.len}`, offset, step.start);
      }
      expect.push(words.subarray(8, 16), words.subarray(0, 8));
    } else {
      const want = expect.pop()!;
      const offset = source.groupOffset();
      const data = await source.group(step.len);
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
        batch.set(data, fill);
        fill += step.len;
        pending.push({ start: step.start, len: step.len, expected: want, offset });
      }
    }
  }
  yield* flush();
}
