// Where unit chaining values go as they are computed: a stack of subtree values
// (memory logarithmic in the input, for plain hashing) or the whole list of unit
// values, which yields the pre-order outboard once the input ends.

import type { Blake3Kernel } from './kernel.js';
import type { Mode } from './mode.js';
import { Output, parentOutput } from './output.js';
import { reduceToOutput } from './subtree.js';

export interface TreeResult {
  /** The root node's output: its rootBytes() are the hash. */
  readonly root: Output;
  /** Number of units (leaves of the unit tree). */
  readonly units: number;
  /** Parent nodes in pre-order, 64 bytes each, (units - 1) of them; only from a ListSink. */
  readonly nodes?: Uint8Array;
}

export interface UnitSink {
  /** count unit chaining values from cvs[off...], in order, none of them the final unit. */
  push(cvs: Uint32Array, off: number, count: number): void;
  /** The final unit's output ends the input. */
  finish(final: Output): TreeResult;
}

/** Merges complete subtrees as soon as they form, as the BLAKE3 reference does. */
export class StackSink implements UnitSink {
  private readonly stack: Uint32Array[] = [];
  private count = 0;
  constructor(private readonly mode: Mode) {}

  push(cvs: Uint32Array, off: number, count: number): void {
    for (let i = 0; i < count; i++) {
      let cv: Uint32Array = cvs.slice(off + 8 * i, off + 8 * i + 8);
      // Safe to merge now: a final unit always follows, so these parents are not the root.
      for (let total = ++this.count; total % 2 === 0; total /= 2) {
        cv = parentOutput(this.stack.pop()!, cv, this.mode).chainingValue();
      }
      this.stack.push(cv);
    }
  }

  finish(final: Output): TreeResult {
    let out = final;
    while (this.stack.length > 0) out = parentOutput(this.stack.pop()!, out.chainingValue(), this.mode);
    return { root: out, units: this.count + 1 };
  }
}

/** Keeps every unit value (32 bytes per unit) to lay out the outboard at the end. */
export class ListSink implements UnitSink {
  private cvs = new Uint32Array(8 * 64);
  private count = 0;
  constructor(private readonly kernel: Blake3Kernel, private readonly mode: Mode, private readonly withNodes = true) {}

  push(cvs: Uint32Array, off: number, count: number): void {
    this.reserve(this.count + count);
    this.cvs.set(cvs.subarray(off, off + 8 * count), this.count * 8);
    this.count += count;
  }

  finish(final: Output): TreeResult {
    if (this.count === 0) return { root: final, units: 1, nodes: this.withNodes ? new Uint8Array(0) : undefined };
    this.reserve(this.count + 1);
    this.cvs.set(final.chainingValue(), this.count * 8);
    const m = this.count + 1;
    const levels: Uint32Array[] | undefined = this.withNodes ? [] : undefined;
    const root = reduceToOutput(this.kernel, this.cvs, m, this.mode, levels);
    return { root, units: m, nodes: levels ? preOrderNodes(levels) : undefined };
  }

  private reserve(units: number): void {
    if (units * 8 <= this.cvs.length) return;
    const next = new Uint32Array(Math.max(units * 8, this.cvs.length * 2));
    next.set(this.cvs.subarray(0, this.count * 8));
    this.cvs = next;
  }
}

/**
 * Lays out the parent nodes of the tree given by its levels (leaves first, the last
 * level holding the root's two children) in pre-order. A node carried up unpaired
 * has no parent node of its own.
 */
export function preOrderNodes(levels: Uint32Array[]): Uint8Array {
  const units = levels[0]!.length / 8;
  const out = new Uint8Array((units - 1) * 64);
  let pos = 0;
  const emit = (level: Uint32Array, first: number): void => {
    out.set(new Uint8Array(level.buffer, level.byteOffset + first * 32, 64), pos);
    pos += 64;
  };
  const visit = (l: number, j: number): void => {
    if (l === 0) return;
    const below = levels[l - 1]!;
    if (2 * j + 1 < below.length / 8) {
      emit(below, 2 * j);
      visit(l - 1, 2 * j);
      visit(l - 1, 2 * j + 1);
    } else {
      visit(l - 1, 2 * j);
    }
  };
  const top = levels.length - 1;
  emit(levels[top]!, 0);
  visit(top, 0);
  visit(top, 1);
  return out;
}
