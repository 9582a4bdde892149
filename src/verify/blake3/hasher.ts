// Streaming BLAKE3 over input of any length in bounded memory: small inputs are batched
// so the kernel hashes many chunks per call, large ones hashed where they lie, and the
// last unit is always held back because only the end of input decides whether it (or a
// parent) is the root.

import { CHUNK_LEN, OUT_LEN } from './constants.js';
import type { Blake3Kernel } from './kernel.js';
import { HASH_MODE, type Mode } from './mode.js';
import type { Output } from './output.js';
import { defaultKernel } from './kernel-instance.js';
import { hashUnits, subtreeOutput } from './subtree.js';
import { ListSink, StackSink, type UnitSink } from './tree-sinks.js';

const BATCH = 1 << 20;
/** Unit of a plain hash: 1 MiB subtrees keep the merge stack short and calls few. */
const HASH_UNIT_LOG = 10;

export interface HasherOptions {
  mode?: Mode;
  /** Record the outboard's parent nodes for chunk groups of 2^groupLog chunks. */
  groupLog?: number;
  kernel?: Blake3Kernel;
}

export interface HashResult {
  /** The 32-byte hash. */
  readonly hash: Uint8Array;
  /** The root output, for extended output (rootBytes(n)). */
  readonly output: Output;
  /** Input length in bytes. */
  readonly length: number;
  /** Pre-order parent nodes at the requested group log (no header), when groupLog was given. */
  readonly nodes?: Uint8Array;
}

export class Hasher {
  private readonly mode: Mode;
  private readonly kernel: Blake3Kernel;
  private readonly unitLog: number;
  private readonly sink: UnitSink;
  private readonly buf = new Uint8Array(BATCH);
  private readonly unitCvs: Uint32Array;
  private filled = 0;
  private firstChunk = 0;
  private length = 0;
  private finished = false;

  constructor(options: HasherOptions = {}) {
    this.mode = options.mode ?? HASH_MODE;
    this.kernel = options.kernel ?? defaultKernel();
    const g = options.groupLog;
    if (g !== undefined && (!Number.isInteger(g) || g < 0 || g > 8)) throw new RangeError(`group log ${g} is not in 0..8`);
    this.unitLog = g ?? HASH_UNIT_LOG;
    this.sink = g === undefined ? new StackSink(this.mode) : new ListSink(this.kernel, this.mode);
    this.unitCvs = new Uint32Array(8 * (BATCH / (CHUNK_LEN << this.unitLog)));
  }

  update(data: Uint8Array): this {
    if (this.finished) throw new Error('update after finalize');
    const unitBytes = CHUNK_LEN << this.unitLog;
    let pos = 0;
    while (pos < data.length) {
      const left = data.length - pos;
      // Only units with more input behind them are known not to be the final one: a full
      // buffer is hashed once more input comes, and so are buffered whole units when the
      // input goes on for more than a unit (it is then hashed where it lies, below).
      if (this.filled === BATCH || (this.filled > 0 && this.filled % unitBytes === 0 && left > unitBytes)) this.flushBatch();
      if (this.filled === 0 && left > unitBytes) {
        // Not copied into the buffer first: the copy was a tenth of a tree hash's time.
        const units = Math.min(Math.floor((left - 1) / unitBytes), BATCH / unitBytes);
        this.pushUnits(data.subarray(pos, pos + units * unitBytes));
        pos += units * unitBytes;
        continue;
      }
      // Small inputs are gathered into the buffer (few, large kernel calls); a long one
      // only up to the next unit boundary, from where it is hashed in place.
      const toBoundary = unitBytes - (this.filled % unitBytes);
      const n = left > toBoundary + unitBytes ? toBoundary : Math.min(BATCH - this.filled, left);
      this.buf.set(data.subarray(pos, pos + n), this.filled);
      this.filled += n;
      pos += n;
    }
    this.length += data.length;
    return this;
  }

  finalize(): HashResult {
    if (this.finished) throw new Error('finalize called twice');
    this.finished = true;
    const unitBytes = CHUNK_LEN << this.unitLog;
    const units = Math.max(1, Math.ceil(this.filled / unitBytes));
    const whole = (units - 1) * unitBytes;
    this.pushUnits(this.buf.subarray(0, whole));
    const final = subtreeOutput(this.kernel, this.buf.subarray(whole, this.filled), this.firstChunk, this.mode);
    const tree = this.sink.finish(final);
    return { hash: tree.root.rootBytes(OUT_LEN), output: tree.root, length: this.length, nodes: tree.nodes };
  }

  private flushBatch(): void {
    this.pushUnits(this.buf.subarray(0, this.filled));
    this.filled = 0;
  }

  private pushUnits(data: Uint8Array): void {
    if (data.length === 0) return;
    const units = data.length / (CHUNK_LEN << this.unitLog);
    hashUnits(this.kernel, data, this.firstChunk, this.unitLog, this.mode, this.unitCvs, 0);
    this.sink.push(this.unitCvs, 0, units);
    this.firstChunk += data.length / CHUNK_LEN;
  }
}
