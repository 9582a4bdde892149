// Groups put together from pieces: a writer handed a group in several parts (as a
// stream delivers them) gets the group's bytes back once they are all there. Pieces of
// one group come in order; a piece at a group's start begins it afresh. Held in memory
// only and bounded: nothing here has been verified yet, so none of it touches the disk.

import { InvalidInputError } from '../../verify/index.js';

/** Most groups being put together at once (1 MiB at 16 KiB groups). */
export const MAX_ASSEMBLING = 64;

interface Assembly {
  buf: Uint8Array;
  filled: number;
}

export class GroupAssembly {
  readonly #groups = new Map<number, Assembly>();

  /**
   * Adds `piece` at byte `at` of group `group` (`len` bytes in all). Resolves to the
   * group's bytes when this piece completes it, else undefined. INVALID_INPUT for a
   * piece that does not continue the group, or a new group beyond MAX_ASSEMBLING.
   */
  add(group: number, at: number, piece: Uint8Array, len: number): Uint8Array | undefined {
    let a = this.#groups.get(group);
    if (at === 0) {
      if (a === undefined && this.#groups.size >= MAX_ASSEMBLING) {
        throw new InvalidInputError(`more than ${MAX_ASSEMBLING} groups are being written in pieces at once`, group);
      }
      a = { buf: new Uint8Array(len), filled: 0 };
      this.#groups.set(group, a);
    } else if (a === undefined || a.filled !== at) {
      throw new InvalidInputError(`piece at byte ${at} of group ${group} does not continue its ${a?.filled ?? 0} bytes so far`, at);
    }
    a.buf.set(piece, at);
    a.filled += piece.length;
    if (a.filled < len) return undefined;
    this.#groups.delete(group);
    return a.buf;
  }

  /** Forgets what was gathered of `group` (it arrived whole, or is held already). */
  drop(group: number): void {
    this.#groups.delete(group);
  }
}
