// Fills a PartialBlob from several peers at once. Each peer gets LANES lanes (requests in
// flight); each lane asks the RangeScheduler for a unit of groups the peer holds, requests
// that one range, runs the answer through the verifying decoder, and writes what verifies
// to the partial (and offers it to the in-order store feeder). Faster peers come back for
// more sooner, and steal the tails of slower peers' units at the end.
//
// Failures are the peer's, never the fetch's: a unit whose peer stalls (no verified bytes
// for stallMs while we wait on it) or fails goes back to the scheduler for another lane.
// A peer that sends anything that fails verification is hung up on, never asked again in
// this fetch, and reported through onPeerDropped. A failure of our own (the partial or the
// store writer cannot write) stops the whole fetch.

import { CastorError } from '../../verify/index.js';
import type { Libp2p } from '@libp2p/interface';
import type { Digest } from '../../store/index.js';
import type { PartialBlob } from '../../store/index.js';
import { PeerFailedError, PeerMisbehavedError, RemoteError } from '../errors.js';
import { pause } from '../pause.js';
import { Pipeline } from '../pipeline.js';
import { decodeAnswer, requestBlob } from '../protocols/index.js';
import type { InOrderFeeder } from './in-order-feeder.js';
import type { PeerSource } from './peer-source.js';
import { RangeScheduler, type Unit } from './range-scheduler.js';

/** Writes to the partial kept in flight per lane. */
const WRITES_IN_FLIGHT = 2;
/**
 * Requests in flight per peer. One: on the project's 2-core machine kind the fetcher is
 * CPU-bound, and a second stream per peer only added buffers and out-of-order arrivals
 * (256 MiB from 4 seeders, load 3-5: 28 MB/s with two, 34 with one; peak RSS 263 -> 248 MiB).
 */
export const DEFAULT_LANES = 1;
export const DEFAULT_STALL_MS = 10_000;
export const DEFAULT_RESTAT_MS = 1000;
/** Largest unit when one peer alone is fetched from on several lanes: 64 MiB (its stream's only cost is the request). */
const ALONE_UNIT_GROUPS = 4096;
/** Failures in a row (streams reset, dials refused) before a peer is given up for this fetch. */
const MAX_FAILURES = 3;
/** BUSY answers in a row before a peer is given up; between them the lane backs off. */
const MAX_BUSY = 8;
const BUSY_BACKOFF_MS = 100;
/** Stalls before a peer is given up. */
const MAX_STALLS = 2;

export interface PeerDroppedEvent {
  readonly peer: string;
  readonly digest: Digest;
  readonly reason: string;
  readonly error: PeerMisbehavedError;
}

export interface SwarmOptions {
  readonly signal?: AbortSignal;
  /** Called with each count of verified bytes written. */
  readonly onBytes?: (n: number) => void;
  /** Called when a peer that sent bad data is hung up on (it is not asked again in this fetch). */
  readonly onPeerDropped?: (event: PeerDroppedEvent) => void;
  /** A unit whose peer sends no verified byte for this long is given to another. @default DEFAULT_STALL_MS */
  readonly stallMs?: number;
  /** How often peers holding part (or none yet) of the blob are asked again what they hold. @default DEFAULT_RESTAT_MS */
  readonly restatMs?: number;
  /** Requests in flight per peer. @default DEFAULT_LANES */
  readonly lanesPerPeer?: number;
}

/** A failure of this node (partial or store write), not of a peer: stops the fetch. */
class LocalFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Verified pieces are gathered into writes of about this size: the decoder releases
 * runs as the stream's buffers bring them (often 16-64 KiB), and each write to the
 * partial or the store costs a thread-pool or worker round trip.
 */
const GATHER_BYTES = 1 << 20;

/** Gather buffers kept for reuse: fresh 1 MiB buffers at 40 a second pile up as garbage (tens of MiB of RSS). */
const POOLED_BUFFERS = 16;

/** Joins adjacent pieces into one buffer of up to `max` bytes, taken from `pool` when it has one. */
class Gather {
  #at = 0;
  #parts: Uint8Array[] = [];
  #len = 0;
  constructor(private readonly max: number, private readonly pool: Uint8Array[]) {}

  /** Adds a piece at `at`; returns a gathered run to write when one is ready. */
  add(at: number, piece: Uint8Array): [number, Uint8Array, boolean] | undefined {
    let out: [number, Uint8Array, boolean] | undefined;
    if (this.#len > 0 && (this.#at + this.#len !== at || this.#len + piece.length > this.max)) out = this.take();
    if (this.#len === 0) this.#at = at;
    this.#parts.push(piece);
    this.#len += piece.length;
    if (out === undefined && this.#len >= this.max) out = this.take();
    return out;
  }

  /** What is gathered, as one run (copied together when it is more than one piece: then `owned`, no one else's buffer). */
  take(): [number, Uint8Array, boolean] | undefined {
    if (this.#len === 0) return undefined;
    const parts = this.#parts;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0]!;
    else {
      const buf = this.#len <= this.max ? this.pool.pop() ?? new Uint8Array(this.max) : new Uint8Array(this.#len);
      bytes = buf.subarray(0, this.#len);
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
    }
    const run: [number, Uint8Array, boolean] = [this.#at, bytes, parts.length > 1];
    this.#parts = [];
    this.#len = 0;
    return run;
  }
}

/** Why we stopped a request ourselves: a twin lane delivered first, the peer stalled, or it was dropped. */
type CancelReason = 'twin' | 'stall' | 'dropped';

/** A request we stopped ourselves, and why. */
class Cancelled {
  constructor(readonly why: CancelReason, readonly error: unknown) {}
}

/** One request in flight. */
interface InFlight {
  readonly unit: Unit;
  readonly source: PeerSource;
  readonly abort: AbortController;
  /** Waiting on the peer (not on our own writes) since `since`. */
  waiting: boolean;
  since: number;
  cancelled: CancelReason | undefined;
}

export interface SwarmResult {
  /** Verified content bytes written (groups another lane had delivered first are not counted). */
  readonly fetched: number;
  /** The peer that delivered the last bytes. */
  readonly last: string | undefined;
}

/** Marks `source` dropped, hangs up on it and reports it (once). */
export function dropPeer(
  host: Libp2p, source: PeerSource, err: PeerMisbehavedError, digest: Digest, report: (err: unknown) => void,
  onPeerDropped: ((event: PeerDroppedEvent) => void) | undefined,
): void {
  if (source.dropped) return;
  source.dropped = true;
  report(err);
  host.hangUp(source.id).catch(() => undefined);
  onPeerDropped?.({ peer: source.name, digest, reason: err.message, error: err });
}

export class SwarmFetch {
  readonly #host: Libp2p;
  readonly #partial: PartialBlob;
  readonly #feeder: InOrderFeeder | undefined;
  readonly #sources: readonly PeerSource[];
  readonly #sched: RangeScheduler;
  readonly #options: SwarmOptions;
  readonly #report: (err: unknown) => void;
  readonly #stallMs: number;
  readonly #restatMs: number;
  readonly #lanes: number;
  readonly #stop = new AbortController();
  /** Resolves when the fetch stops. */
  readonly #onStop = new Promise<void>((resolve) => this.#stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  readonly #inflight = new Set<InFlight>();
  readonly #pool: Uint8Array[] = [];
  #fatal: LocalFailure | undefined;
  #fetched = 0;
  #last: string | undefined;
  #spread = false;
  #lastProgress = performance.now();

  /** `report` collects peer failures for the error when the fetch fails. */
  constructor(host: Libp2p, partial: PartialBlob, feeder: InOrderFeeder | undefined, sources: readonly PeerSource[], report: (err: unknown) => void, options: SwarmOptions) {
    this.#host = host;
    this.#partial = partial;
    this.#feeder = feeder;
    this.#sources = sources;
    this.#report = report;
    this.#options = options;
    this.#stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    this.#restatMs = options.restatMs ?? DEFAULT_RESTAT_MS;
    this.#lanes = Math.max(1, options.lanesPerPeer ?? DEFAULT_LANES);
    // One peer alone: large units, in order, as a plain fetch would be (nothing arriving
    // ahead of the store writer). On one lane, every missing run in one request each:
    // units of 64 MiB halving towards the end made 10 requests of a 256 MiB blob, each
    // a new stream, a round trip with the pipe empty, and new decoder state.
    const alone = sources.length === 1;
    const n = Math.max(1, partial.groupCount);
    const units = !alone ? {} : this.#lanes === 1 ? { minUnitGroups: n, maxUnitGroups: n } : { maxUnitGroups: ALONE_UNIT_GROUPS };
    this.#sched = new RangeScheduler(partial.groupCount, (g) => partial.has(g), units);
  }

  /** Runs until every group is held or no peer can give more (the caller checks the partial). */
  async run(): Promise<SwarmResult> {
    const outer = this.#options.signal;
    const onOuterAbort = (): void => this.#stop.abort(outer!.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    const tick = Math.max(20, Math.min(1000, Math.floor(this.#stallMs / 4)));
    const watchdog = setInterval(() => this.#watch(), tick);
    try {
      this.#maybeSpread();
      const lanes: Promise<void>[] = [];
      for (const s of this.#sources) for (let i = 0; i < this.#lanes; i++) lanes.push(this.#lane(s));
      // Done once every group is held, whatever a lane still waits on (a stat that stalls,
      // a twin request): those are stopped, then every lane is settled before returning.
      const all = Promise.all(lanes);
      while (!this.#sched.finished && !this.#stopped && !(await Promise.race([all.then(() => true), this.#sched.changed().then(() => false)])));
      if (!this.#stop.signal.aborted) this.#stop.abort(new Error('fetch finished'));
      await all;
      outer?.throwIfAborted();
      if (this.#fatal !== undefined) throw this.#fatal.error;
      return { fetched: this.#fetched, last: this.#last };
    } finally {
      clearInterval(watchdog);
      outer?.removeEventListener('abort', onOuterAbort);
      if (!this.#stop.signal.aborted) this.#stop.abort(new Error('fetch finished'));
    }
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Lanes of peers that have stated something: sizes the units. */
  #laneCount(): number {
    let n = 0;
    for (const s of this.#sources) if (s.alive && s.stat !== undefined) n += this.#lanes;
    return Math.max(1, n);
  }

  /**
   * Once another peer turns out to be downloading the same blob, start handing out
   * units from a random place: fetchers that all went in order would hold the same
   * groups and have nothing to give each other.
   */
  #maybeSpread(): void {
    if (this.#spread) return;
    if (!this.#sources.some((s) => s.alive && s.stat !== undefined && !s.stat.complete)) return;
    this.#spread = true;
    this.#sched.startAt(Math.floor(Math.random() * this.#sched.groupCount));
  }

  async #lane(source: PeerSource): Promise<void> {
    const digest = this.#partial.digest;
    while (!this.#stopped && !this.#sched.finished && source.alive) {
      if (source.statting || source.statDue(performance.now(), this.#restatMs)) {
        // A stat asked before the swarm began is not bound to its stop: not waited for past it.
        await Promise.race([source.restat(this.#host, digest, this.#stop.signal), this.#onStop]);
        if (this.#stopped) return;
        let err = source.takeError();
        if (err === undefined) {
          try {
            this.#checkSize(source);
          } catch (e: unknown) {
            err = e;
          }
        }
        if (err !== undefined) {
          await this.#failed(source, err);
          continue;
        }
        this.#maybeSpread();
      }
      if (!source.alive) return;
      const unit = source.stat === undefined ? undefined : this.#sched.next(source.name, source.holds, this.#laneCount());
      if (unit === undefined) {
        await this.#idle(source.complete ? 4 * this.#restatMs : this.#restatMs);
        continue;
      }
      try {
        await this.#fetchUnit(unit, source);
        source.failures = 0;
      } catch (err: unknown) {
        if (err instanceof LocalFailure) {
          this.#fatal ??= err;
          this.#stop.abort(err.error);
          return;
        }
        if (!this.#stopped) await this.#failed(source, err);
      } finally {
        this.#sched.release(unit);
      }
    }
  }

  /** Waits for a change in the scheduler, at most `ms`. */
  #idle(ms: number): Promise<void> {
    return this.#idleFor(ms, this.#sched.changed());
  }

  /** A size other than the partial's is a lie: the partial's was proved by its final group before the swarm began (fetch/prove-size.ts). */
  #checkSize(source: PeerSource): void {
    const st = source.stat;
    if (st !== undefined && st.size !== this.#partial.size) {
      source.stat = undefined;
      throw new PeerMisbehavedError(source.name, this.#partial.digest, `states ${st.size} bytes; the blob's final group proved ${this.#partial.size}`);
    }
  }

  /** What a failure of `source` means for it (a unit it had is released by the caller); resolves after any back-off. */
  async #failed(source: PeerSource, err: unknown): Promise<void> {
    const why = err instanceof Cancelled ? err.why : undefined;
    if (why === 'twin' || why === 'dropped') return;
    if (why === 'stall') {
      this.#report(new PeerFailedError(source.name, `sent no verified byte for ${this.#stallMs} ms`, { cause: err }));
      if (++source.stalls >= MAX_STALLS) source.gone = true;
      return;
    }
    if (err instanceof PeerMisbehavedError) return this.drop(source, err);
    this.#report(err);
    if (err instanceof RemoteError && err.remoteCode === 'BUSY') {
      if (++source.failures >= MAX_BUSY) source.gone = true;
      else await this.#idleFor(Math.min(2000, BUSY_BACKOFF_MS * 2 ** source.failures));
      return;
    }
    if (++source.failures >= MAX_FAILURES) source.gone = true;
  }

  /** Waits `ms`, or less if the fetch stops or `wake` resolves. */
  #idleFor(ms: number, wake?: Promise<void>): Promise<void> {
    return pause(ms, this.#stop.signal, wake);
  }

  /** Hangs up on a peer that lied; it is not asked again in this fetch. */
  drop(source: PeerSource, err: PeerMisbehavedError): void {
    if (source.dropped) return;
    for (const f of this.#inflight) {
      if (f.source !== source) continue;
      f.cancelled = 'dropped';
      f.abort.abort(err);
    }
    dropPeer(this.#host, source, err, this.#partial.digest, this.#report, this.#options.onPeerDropped);
  }

  /** Stalled requests are cancelled (their units go to other lanes). */
  #watch(): void {
    const now = performance.now();
    for (const f of this.#inflight) {
      if (f.waiting && f.cancelled === undefined && now - f.since > this.#stallMs) {
        f.cancelled = 'stall';
        f.abort.abort(new CastorError('STALLED', `no verified bytes for ${this.#stallMs} ms`, f.source.name));
      }
    }
    // Nothing in flight, nothing arriving, and only peers that do not hold the rest: give up.
    if (this.#inflight.size === 0 && !this.#sched.finished && now - this.#lastProgress > Math.max(this.#stallMs, 4 * this.#restatMs)
      && !this.#sources.some((s) => s.alive && s.complete)) {
      for (const s of this.#sources) s.gone = true;
      this.#stop.abort(new Error('no peer holds the missing groups'));
    }
  }

  async #fetchUnit(unit: Unit, source: PeerSource): Promise<void> {
    const partial = this.#partial;
    const gb = partial.groupBytes;
    const size = partial.size;
    const endByte = (): number => Math.min(size, unit.end * gb);
    const range = { start: unit.pos * gb, end: endByte() };
    const flight: InFlight = { unit, source, abort: new AbortController(), waiting: true, since: performance.now(), cancelled: undefined };
    this.#inflight.add(flight);
    const writes = new Pipeline(WRITES_IN_FLIGHT);
    const gather = new Gather(GATHER_BYTES, this.#pool);
    try {
      const signal = AbortSignal.any([flight.abort.signal, this.#stop.signal]);
      const answer = await requestBlob(this.#host, source.id, partial.digest, [range], { signal });
      if (answer === undefined) {
        // It said it held these groups: ask it again what it holds.
        source.statAt = Number.NEGATIVE_INFINITY;
        if (source.complete) source.stat = undefined;
        throw new PeerFailedError(source.name, 'no longer has the blob');
      }
      if (answer.claimedSize !== size) {
        answer.exchange.stream.abort(new Error('size mismatch'));
        throw new PeerMisbehavedError(answer.exchange.peer, partial.digest, `claims ${answer.claimedSize} bytes; the blob's final group proved ${size}`);
      }
      let pos = range.start;
      const it = decodeAnswer(answer)[Symbol.asyncIterator]();
      try {
        for (;;) {
          flight.waiting = true;
          flight.since = performance.now();
          const next = await it.next();
          flight.waiting = false;
          if (next.done === true) break;
          // A stolen tail is no longer ours: stop where the unit now ends.
          const stop = endByte();
          const bytes = pos + next.value.length > stop ? next.value.subarray(0, Math.max(0, stop - pos)) : next.value;
          if (bytes.length > 0) {
            // Claimed (marked received) before the writes are awaited, so a twin lane
            // that gets the same groups meanwhile skips them instead of writing them again.
            const runs = this.#claim(pos, bytes);
            pos += bytes.length;
            const twin = this.#sched.received(unit, pos >= size ? partial.groupCount : Math.floor(pos / gb));
            if (twin !== undefined) this.#cancelTwin(twin);
            this.#lastProgress = performance.now();
            for (const [at, piece] of runs) {
              const whole = gather.add(at, piece);
              if (whole !== undefined) await this.#writeRun(source, whole[0], whole[1], whole[2], writes);
            }
          }
          if (pos >= endByte() || unit.cancelled) break;
        }
      } finally {
        // Stops the peer's stream when we leave early (decodeAnswer aborts it).
        await it.return?.(undefined);
        // What verified is written whatever happened after it (its groups are claimed).
        const rest = gather.take();
        if (rest !== undefined) await this.#writeRun(source, rest[0], rest[1], rest[2], writes);
      }
      try {
        await writes.drain();
      } catch (err: unknown) {
        throw new LocalFailure(err);
      }
    } catch (err: unknown) {
      if (flight.cancelled !== undefined && !(err instanceof LocalFailure)) throw new Cancelled(flight.cancelled, err);
      throw err;
    } finally {
      this.#inflight.delete(flight);
      await writes.settle();
      this.#feeder?.poke();
    }
  }

  #cancelTwin(twin: Unit): void {
    for (const f of this.#inflight) {
      if (f.unit !== twin) continue;
      f.cancelled = 'twin';
      f.abort.abort(new Error('delivered by another peer'));
    }
  }

  /** The runs of verified `bytes` at `pos` to write: whole groups another lane delivered first are left out. */
  #claim(pos: number, bytes: Uint8Array): [number, Uint8Array][] {
    const gb = this.#partial.groupBytes;
    const end = pos + bytes.length;
    const runs: [number, Uint8Array][] = [];
    let runStart = pos;
    if (pos % gb === 0) {
      for (let at = pos; at < end;) {
        const g = Math.floor(at / gb);
        const gEnd = Math.min(end, (g + 1) * gb);
        const whole = gEnd === Math.min(this.#partial.size, (g + 1) * gb);
        if (whole && this.#sched.isDone(g)) {
          if (at > runStart) runs.push([runStart, bytes.subarray(runStart - pos, at - pos)]);
          runStart = gEnd;
        }
        at = gEnd;
      }
    }
    if (end > runStart) runs.push([runStart, bytes.subarray(runStart - pos, end - pos)]);
    return runs;
  }

  /** `owned`: the piece is a buffer of our own, which the feeder may keep without a copy. */
  async #writeRun(source: PeerSource, at: number, piece: Uint8Array, owned: boolean, writes: Pipeline): Promise<void> {
    if (piece.length === 0) return;
    const feeder = this.#feeder;
    // Offered first: the feeder takes it (or sets it aside) before the partial holds it,
    // so its pump never reads back from the partial what is still in memory here.
    const offered = feeder?.offer(at, piece, owned);
    offered?.catch(() => undefined);
    let p: Promise<number>;
    try {
      // Released by the verifying decoder: stored without hashing it a second time.
      p = this.#partial.writeVerified(at, piece);
    } catch (err: unknown) {
      throw new LocalFailure(err);
    }
    if (feeder !== undefined) p.then(() => feeder.poke(), () => undefined);
    // A gathered buffer goes back to the pool once the partial wrote it and the feeder let go of it.
    if (owned && piece.byteOffset === 0 && piece.buffer.byteLength === GATHER_BYTES) {
      Promise.all([p, offered ?? true]).then(([, released]) => {
        if (released && this.#pool.length < POOLED_BUFFERS) this.#pool.push(new Uint8Array(piece.buffer));
      }, () => undefined);
    }
    try {
      await writes.add(p);
      await offered;
    } catch (err: unknown) {
      throw new LocalFailure(err);
    }
    this.#fetched += piece.length;
    source.delivered += piece.length;
    this.#last = source.name;
    this.#options.onBytes?.(piece.length);
  }
}
