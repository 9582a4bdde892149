// Which groups of a blob each peer is asked for next. Pure bookkeeping, no I/O, so the
// swarm fetch (swarm-fetch.ts) and the tests can drive it step by step.
//
// The missing groups are handed out as units: runs of whole groups, 1 to 4 MiB, smaller
// as the free groups run out so the last ones spread over every lane. A lane (one
// request in flight to one peer) asks for the next free run its peer holds. When nothing
// is free, a lane steals: it splits the in-flight unit of another peer with the most left
// to receive (the owner stops at the split point), or, once that unit is too small to
// split, duplicates it (both ask; the first to deliver a group wins, the other is
// cancelled once everything it still had to deliver arrived). So faster peers take more,
// and one slow peer cannot hold up the end.
//
// "Done" is marked when verified bytes arrive, not when they are on disk: a write failure
// fails the whole fetch anyway.

export interface Unit {
  readonly id: number;
  readonly peer: string;
  /** First group asked for. */
  readonly start: number;
  /** One past the last group this unit must deliver; lowered when another lane steals the tail. */
  end: number;
  /** The next group expected from the peer. */
  pos: number;
  /** Another unit asking for the same groups (endgame duplicate). */
  twin: Unit | undefined;
  /** Set once the scheduler no longer wants the unit (its groups all arrived from elsewhere). */
  cancelled: boolean;
}

export interface SchedulerOptions {
  /** Smallest unit handed out while there are at least this many free groups. @default 64 (1 MiB) */
  readonly minUnitGroups?: number;
  /** Largest unit. @default 256 (4 MiB) */
  readonly maxUnitGroups?: number;
  /** Smallest tail worth splitting off an in-flight unit; below it the unit is duplicated. @default 16 (256 KiB) */
  readonly minStealGroups?: number;
  /** Where the search for free groups starts (wrapping around): spreads fetchers of one blob over it. @default 0 */
  readonly firstGroup?: number;
}

/** Whether a peer holds group g; undefined means it holds all of them. */
export type Holds = ((g: number) => boolean) | undefined;

export class RangeScheduler {
  readonly groupCount: number;
  readonly #done: Uint8Array;
  /** Units (lanes) asking for each group right now. */
  readonly #owners: Uint8Array;
  readonly #active = new Set<Unit>();
  readonly #min: number;
  readonly #max: number;
  readonly #minSteal: number;
  #first: number;
  #remaining = 0;
  #nextId = 1;
  #listeners: (() => void)[] = [];

  /** `held(g)`: groups already held (a resumed partial) are never handed out. */
  constructor(groupCount: number, held: (g: number) => boolean, options: SchedulerOptions = {}) {
    this.groupCount = groupCount;
    this.#done = new Uint8Array(groupCount);
    this.#owners = new Uint8Array(groupCount);
    for (let g = 0; g < groupCount; g++) {
      if (held(g)) this.#done[g] = 1;
      else this.#remaining++;
    }
    this.#min = Math.max(1, options.minUnitGroups ?? 64);
    this.#max = Math.max(this.#min, options.maxUnitGroups ?? 256);
    this.#minSteal = Math.max(1, options.minStealGroups ?? 16);
    const first = options.firstGroup ?? 0;
    this.#first = groupCount === 0 ? 0 : ((first % groupCount) + groupCount) % groupCount;
  }

  /** Moves where the search for free groups starts (a swarm of fetchers found: spread out). */
  startAt(g: number): void {
    if (this.groupCount > 0) this.#first = ((Math.floor(g) % this.groupCount) + this.groupCount) % this.groupCount;
  }

  /** Groups not yet received. */
  get remaining(): number { return this.#remaining; }
  get finished(): boolean { return this.#remaining === 0; }
  get activeCount(): number { return this.#active.size; }
  isDone(g: number): boolean { return this.#done[g] === 1; }

  /** Resolves at the next change (a unit released, groups received). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#listeners.push(resolve));
  }

  #notify(): void {
    const ls = this.#listeners;
    this.#listeners = [];
    for (const l of ls) l();
  }

  #free(g: number, holds: Holds): boolean {
    return this.#done[g] === 0 && this.#owners[g] === 0 && (holds === undefined || holds(g));
  }

  /**
   * The next unit for a lane of `peer`, which holds `holds`; `lanes` is how many lanes
   * are fetching in all (sizes the unit). Undefined when there is nothing to give it.
   */
  next(peer: string, holds: Holds, lanes: number): Unit | undefined {
    if (this.#remaining === 0) return undefined;
    return this.#take(peer, holds, lanes) ?? this.#steal(peer, holds);
  }

  #take(peer: string, holds: Holds, lanes: number): Unit | undefined {
    const n = this.groupCount;
    let freeCount = 0;
    for (let g = 0; g < n; g++) if (this.#done[g] === 0 && this.#owners[g] === 0) freeCount++;
    if (freeCount === 0) return undefined;
    // Near the end, smaller units, so every lane gets a share of what is left.
    const size = Math.max(1, Math.min(this.#max, Math.max(Math.min(this.#min, freeCount), Math.ceil(freeCount / (2 * Math.max(1, lanes))))));
    for (let i = 0; i < n; i++) {
      const g = (this.#first + i) % n;
      if (!this.#free(g, holds)) continue;
      // Runs do not wrap past the last group: a unit is one byte range.
      let end = g + 1;
      while (end < n && end - g < size && this.#free(end, holds)) end++;
      return this.#add(peer, g, end, undefined);
    }
    return undefined;
  }

  #steal(peer: string, holds: Holds): Unit | undefined {
    let best: Unit | undefined;
    for (const u of this.#active) {
      if (u.peer === peer || u.cancelled || u.twin !== undefined) continue;
      // A unit is only stolen by a peer that holds all it still has to deliver.
      if (holds !== undefined && !rangeHeld(holds, u.pos, u.end)) continue;
      if (u.end - u.pos <= 0) continue;
      if (best === undefined || u.end - u.pos > best.end - best.pos) best = u;
    }
    if (best === undefined) return undefined;
    const left = best.end - best.pos;
    if (left >= 2 * this.#minSteal) {
      // The tail half moves to the thief; the owner's stream stops at `mid`.
      const mid = best.pos + Math.ceil(left / 2);
      const end = best.end;
      best.end = mid;
      return this.#add(peer, mid, end, undefined, false);
    }
    return this.#add(peer, best.pos, best.end, best);
  }

  #add(peer: string, start: number, end: number, twin: Unit | undefined, count = true): Unit {
    const u: Unit = { id: this.#nextId++, peer, start, end, pos: start, twin, cancelled: false };
    if (count) for (let g = start; g < end; g++) this.#owners[g]!++;
    if (twin !== undefined) twin.twin = u;
    this.#active.add(u);
    return u;
  }

  /**
   * Groups [u.pos, upTo) of `u` arrived verified. Returns the twin to cancel when the
   * twin has nothing left to deliver.
   */
  received(u: Unit, upTo: number): Unit | undefined {
    const to = Math.min(upTo, u.end);
    for (let g = u.pos; g < to; g++) {
      if (this.#done[g] === 0) {
        this.#done[g] = 1;
        this.#remaining--;
      }
    }
    if (to > u.pos) u.pos = to;
    this.#notify();
    const t = u.twin;
    if (t !== undefined && !t.cancelled && this.#allDone(t.pos, t.end)) {
      t.cancelled = true;
      return t;
    }
    return undefined;
  }

  /** Whether `u` has nothing left to deliver (its end reached, or every remaining group came from elsewhere). */
  isSatisfied(u: Unit): boolean {
    return u.pos >= u.end || this.#allDone(u.pos, u.end);
  }

  #allDone(from: number, to: number): boolean {
    for (let g = from; g < to; g++) if (this.#done[g] === 0) return false;
    return true;
  }

  /** The lane is finished with `u` (delivered, failed or cancelled): what it did not deliver is free again. */
  release(u: Unit): void {
    if (!this.#active.delete(u)) return;
    for (let g = u.pos; g < u.end; g++) if (this.#owners[g]! > 0) this.#owners[g]!--;
    if (u.twin !== undefined) u.twin.twin = undefined;
    u.twin = undefined;
    this.#notify();
  }

  /** Units in flight. */
  active(): readonly Unit[] {
    return [...this.#active];
  }
}

function rangeHeld(holds: (g: number) => boolean, from: number, to: number): boolean {
  for (let g = from; g < to; g++) if (!holds(g)) return false;
  return true;
}
