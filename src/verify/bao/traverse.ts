// The pre-order walk over the nodes of a bao tree that a set of ranges needs.
// Slicing copies what it yields; decoding verifies what it yields. Both walk the
// same steps, so a slice always holds exactly what its decoder will read.

import type { ByteRange } from './ranges.js';
import { groupBytes, leftLen, subtreeNodeBytes } from './shape.js';

export type Step =
  /** A parent node covering content [start, start+len). */
  | { kind: 'parent'; start: number; len: number; root: boolean }
  /** A leaf group of content [start, start+len); `final` if it ends the content. */
  | { kind: 'group'; start: number; len: number; root: boolean; final: boolean }
  /** A subtree no range needs: `nodeBytes` of parents and `len` content bytes are passed over. */
  | { kind: 'skip'; start: number; len: number; nodeBytes: number };

/** Yields the steps for content of `len` bytes, chunk-group log `g`, needed by `select` (sorted, disjoint). */
export function* walk(len: number, g: number, select: readonly ByteRange[]): Generator<Step> {
  const gb = groupBytes(g);
  const last = select[select.length - 1];
  const lastEnd = last ? last.end : 0;
  let ri = 0;
  const wanted = (s: number, e: number): boolean => {
    while (ri < select.length && select[ri]!.end <= s) ri++;
    const r = select[ri];
    return r !== undefined && r.start < e;
  };
  // An explicit stack instead of recursion: [start, len, root].
  const stack: [number, number, boolean][] = [[0, len, true]];
  while (stack.length > 0) {
    const [start, sub, root] = stack.pop()!;
    // Past the last range nothing more is read, so a stream is never consumed further.
    if (start >= lastEnd && len > 0) return;
    if (len > 0 && !wanted(start, start + sub)) {
      yield { kind: 'skip', start, len: sub, nodeBytes: subtreeNodeBytes(sub, g) };
    } else if (sub <= gb) {
      yield { kind: 'group', start, len: sub, root, final: start + sub === len };
    } else {
      yield { kind: 'parent', start, len: sub, root };
      const l = leftLen(sub);
      stack.push([start + l, sub - l, false], [start, l, false]);
    }
  }
}
