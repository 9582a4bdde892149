// Checking an outboard on its own, before any content arrives: every parent node must
// hash up to the root digest, and then each group's expected chaining value can be read
// off the verified parents, so groups can be checked one by one, in any order, as they
// come in (a resumable download). The length is proven only once the final group
// verifies (bao spec): parents alone cannot tell two lengths of the same tree shape apart.

import { CHUNK_LEN } from '../blake3/index.js';
import type { Blake3Kernel } from '../blake3/index.js';
import { defaultKernel } from '../blake3/index.js';
import { HASH_MODE, wordsOf } from '../blake3/index.js';
import { parentOutput } from '../blake3/index.js';
import { hashUnits, subtreeOutput } from '../blake3/index.js';
import { CastorError, HashMismatchError, InvalidInputError, UnexpectedEofError } from '../errors.js';
import type { ByteRange } from './ranges.js';
import { checkGroupLog, decodeLength, groupBytes, groupCount, HEADER_LEN, leftLen, outboardSize, PARENT_LEN, subtreeNodeBytes } from './shape.js';
import { equalBytes, equalWords, loadWords } from './words.js';

/** The outboard's length header names another content length than the one expected. */
export class LengthMismatchError extends CastorError {
  constructor(readonly header: number, readonly expected: number) {
    super('LENGTH_MISMATCH', `outboard header says ${header} bytes of content, expected ${expected}`, header);
  }
}

/** The outboard is longer than a tree over its content length can be (trailing bytes). */
export class OutboardSizeError extends CastorError {
  constructor(readonly actual: number, readonly expected: number) {
    super('OUTBOARD_SIZE', `outboard is ${actual} bytes, a tree over its length has ${expected}`, actual);
  }
}

/** Most bytes hashed per kernel call when checking a run of groups. */
const BATCH = 1 << 20;

/**
 * An outboard whose parents all hash up to `hash`. Knows the expected chaining value
 * of every group, so it checks groups one at a time or in runs, in any order. Holds
 * the outboard bytes (1/256 of the content at G = 4), nothing else.
 */
export class VerifiedOutboard {
  readonly groupCount: number;
  readonly groupBytes: number;

  /** Use `verifyOutboard`. */
  constructor(readonly hash: Uint8Array, readonly length: number, readonly groupLog: number, readonly outboard: Uint8Array) {
    this.groupCount = groupCount(length, groupLog);
    this.groupBytes = groupBytes(groupLog);
  }

  /** Content bytes of group `i`: [i * groupBytes, min(length, (i+1) * groupBytes)). */
  groupRange(i: number): ByteRange {
    this.#checkIndex(i);
    const start = i * this.groupBytes;
    return { start, end: Math.min(this.length, start + this.groupBytes) };
  }

  /**
   * The chaining value group `i` must hash to (8 words, a copy), read off its parent
   * by a descent from the root; undefined when the tree is that one group, whose check
   * is then the root hash itself.
   */
  groupChainingValue(i: number): Uint32Array | undefined {
    this.#checkIndex(i);
    const g = this.groupLog;
    const target = i * this.groupBytes;
    let start = 0;
    let len = this.length;
    let node = HEADER_LEN;
    let at = -1;
    while (len > this.groupBytes) {
      const l = leftLen(len);
      if (target < start + l) {
        at = node;
        node += PARENT_LEN;
        len = l;
      } else {
        at = node + 32;
        node += PARENT_LEN + subtreeNodeBytes(l, g);
        start += l;
        len -= l;
      }
    }
    return at < 0 ? undefined : wordsOf(this.outboard.subarray(at, at + 32));
  }

  /**
   * Checks `data`, the content of groups first, first+1, ... (whole groups; only the
   * final group of the content may be short). Resolves to how many leading groups
   * verify: a result below the number of groups in `data` names the first bad one.
   * Throws INVALID_INPUT if `data` does not end on a group boundary or the content end.
   */
  verifyGroups(first: number, data: Uint8Array, kernel: Blake3Kernel = defaultKernel()): number {
    this.#checkIndex(first);
    const start = first * this.groupBytes;
    const end = start + data.length;
    const aligned = data.length % this.groupBytes === 0 ? end <= this.length || (this.length === 0 && data.length === 0) : end === this.length;
    if (!aligned || (data.length === 0 && this.length !== 0)) {
      throw new InvalidInputError(`${data.length} bytes at group ${first} are not whole groups of a ${this.length}-byte content`, data.length);
    }
    const count = Math.max(1, Math.ceil(data.length / this.groupBytes));
    const finalIndex = this.groupCount - 1;
    // Full groups before the final one, in batches through the kernel.
    const full = Math.min(count, finalIndex - first);
    const cvs = new Uint32Array(8 * Math.min(full, BATCH / this.groupBytes));
    for (let done = 0; done < full;) {
      const n = Math.min(full - done, BATCH / this.groupBytes);
      const piece = data.subarray(done * this.groupBytes, (done + n) * this.groupBytes);
      hashUnits(kernel, piece, (first + done) * (this.groupBytes / CHUNK_LEN), this.groupLog, HASH_MODE, cvs, 0);
      for (let k = 0; k < n; k++) {
        if (!equalWords(cvs.subarray(8 * k, 8 * k + 8), this.groupChainingValue(first + done + k)!)) return done + k;
      }
      done += n;
    }
    if (full === count) return count;
    // The final group: short or not, and the root when it is the only one.
    const bytes = data.subarray(full * this.groupBytes);
    const out = subtreeOutput(kernel, bytes, finalIndex * (this.groupBytes / CHUNK_LEN), HASH_MODE);
    const want = this.groupChainingValue(finalIndex);
    const ok = want === undefined ? equalBytes(out.rootBytes(32), this.hash) : equalWords(out.chainingValue(), want);
    return ok ? count : full;
  }

  /** Like verifyGroups for one whole group, throwing HASH_MISMATCH (value: the group index) when it does not verify. */
  checkGroup(i: number, data: Uint8Array, kernel?: Blake3Kernel): void {
    const { start, end } = this.groupRange(i);
    if (data.length !== end - start) throw new InvalidInputError(`group ${i} is ${end - start} bytes, got ${data.length}`, data.length);
    if (this.verifyGroups(i, data, kernel) !== 1) throw new HashMismatchError(`group ${i} (content bytes ${start}..${end})`, start, i);
  }

  #checkIndex(i: number): void {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.groupCount) {
      throw new InvalidInputError(`group ${i} is not in 0..${this.groupCount - 1}`, i);
    }
  }
}

/**
 * Checks that `outboard` (8-byte little-endian length header, then parent nodes in
 * pre-order, chunk-group log `groupLog`) is the outboard of some content of `length`
 * bytes hashing to `hash`: the header says `length` (LENGTH_MISMATCH otherwise), the
 * outboard has exactly the parents such a tree has (UNEXPECTED_EOF when cut short,
 * OUTBOARD_SIZE when longer), and every parent hashes to the value its own parent
 * holds, the top one to `hash` (HASH_MISMATCH, offset = where in the outboard the bad
 * parent starts). With one group there are no parents, and only the header is checked.
 * The length is only a claim until the final group verifies against the result.
 * The result keeps `outboard` itself, not a copy: the caller must not change it.
 */
export function verifyOutboard(hash: Uint8Array, length: number, outboard: Uint8Array, groupLog: number): VerifiedOutboard {
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new InvalidInputError('hash must be 32 bytes', hash?.length);
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidInputError(`length ${length} is not a non-negative integer`, length);
  if (!(outboard instanceof Uint8Array)) throw new InvalidInputError('outboard must be a Uint8Array', typeof outboard);
  const g = checkGroupLog(groupLog);
  if (outboard.length < HEADER_LEN) throw new UnexpectedEofError(outboard.length, HEADER_LEN - outboard.length);
  const header = decodeLength(outboard);
  if (header !== length) throw new LengthMismatchError(header, length);
  const expected = outboardSize(length, g);
  if (outboard.length < expected) throw new UnexpectedEofError(outboard.length, expected - outboard.length);
  if (outboard.length > expected) throw new OutboardSizeError(outboard.length, expected);

  checkParents(hash, length, g, outboard);
  return new VerifiedOutboard(hash.slice(), length, g, outboard);
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Most parents hashed per kernel call: bounds the scratch words to 1 MiB. */
const PARENT_BATCH = 16384;

/**
 * Every parent of the outboard checked against the value its own parent holds, the top
 * one against `hash`. A parent's 64 bytes are its children's two chaining values, which
 * is exactly a kernel's parent input: so all of them are hashed in batched SIMD calls
 * (65,535 parents for 1 GiB: about 60 ms one by one in JS, a few ms batched), and then
 * a walk in pre-order compares each with the half of its parent that names it. The first
 * mismatch in pre-order is the one reported, as a top-down check would find it.
 */
function checkParents(hash: Uint8Array, length: number, g: number, outboard: Uint8Array): void {
  const n = (outboard.length - HEADER_LEN) / PARENT_LEN;
  if (n === 0) return;
  const mode = HASH_MODE;
  const words = new Uint32Array(n * 16);
  // Little-endian words: on a little-endian machine a plain copy of the bytes.
  if (LITTLE_ENDIAN) new Uint8Array(words.buffer).set(outboard.subarray(HEADER_LEN));
  else loadWords(outboard.subarray(HEADER_LEN), words);
  const cvs = new Uint32Array(n * 8);
  const kernel = defaultKernel();
  for (let done = 0; done < n; done += PARENT_BATCH) {
    const k = Math.min(PARENT_BATCH, n - done);
    kernel.hashParents(words, 16 * done, k, mode.key, mode.flags, cvs, 8 * done);
  }
  const mismatch = (i: number, start: number, len: number): HashMismatchError =>
    new HashMismatchError(`parent node over content bytes ${start}..${start + len}`, HEADER_LEN + i * PARENT_LEN, start);
  if (!equalBytes(parentOutput(words.subarray(0, 8), words.subarray(8, 16), mode).rootBytes(32), hash)) throw mismatch(0, 0, length);
  const gb = groupBytes(g);
  // Pre-order, as a top-down check meets them: [node index, content start, content
  // length, where in `words` the value vouching for the node is]. Children that are
  // groups are left for their content.
  const stack: [number, number, number, number][] = [];
  const pushChildren = (i: number, start: number, len: number): void => {
    const l = leftLen(len);
    if (len - l > gb) stack.push([i + groupCount(l, g), start + l, len - l, 16 * i + 8]);
    if (l > gb) stack.push([i + 1, start, l, 16 * i]);
  };
  pushChildren(0, 0, length);
  while (stack.length > 0) {
    const [i, start, len, at] = stack.pop()!;
    for (let w = 0; w < 8; w++) if (cvs[8 * i + w] !== words[at + w]) throw mismatch(i, start, len);
    pushChildren(i, start, len);
  }
}
