// One peer as a source of one blob during a fetch: what it last stated (size, outboard,
// which groups it holds), whether it is still worth asking, and what it delivered.
// Peers that hold only part of the blob (downloading it too) or none yet are stated
// again from time to time; a peer that holds it whole never needs it.

import type { PeerId } from '@libp2p/interface';
import type { Libp2p } from '@libp2p/interface';
import type { Digest } from '../../store/index.js';
import { requestStat, type PeerStat } from '../protocols/index.js';
import type { Holds } from './range-scheduler.js';

export class PeerSource {
  readonly id: PeerId;
  readonly name: string;
  /** The last stat answer; undefined while none came or the peer holds none of the blob. */
  stat: PeerStat | undefined;
  /** When the last stat was asked for (ms, performance.now()). */
  statAt = Number.NEGATIVE_INFINITY;
  #statting: Promise<void> | undefined;
  #error: unknown;
  /** Lied (bytes, size, outboard): never asked again in this fetch. */
  dropped = false;
  /** Given up on (failed, stalled, busy too often): not asked again in this fetch. */
  gone = false;
  /** Failures in a row (a success resets it). */
  failures = 0;
  stalls = 0;
  /** Verified content bytes it delivered that were written. */
  delivered = 0;

  constructor(id: PeerId) {
    this.id = id;
    this.name = id.toString();
  }

  get alive(): boolean {
    return !this.dropped && !this.gone;
  }

  get complete(): boolean {
    return this.stat?.complete === true;
  }

  /** Which groups it can be asked for (undefined: all). */
  get holds(): Holds {
    const st = this.stat;
    if (st === undefined) return () => false;
    if (st.complete) return undefined;
    const bits = st.bitfield;
    return (g) => ((bits[g >>> 3] ?? 0) >>> (g & 7) & 1) === 1;
  }

  /** Whether a stat answer is awaited now. */
  get statting(): boolean {
    return this.#statting !== undefined;
  }

  /** Whether a fresh stat is due: never for a complete peer, every `everyMs` otherwise. */
  statDue(now: number, everyMs: number): boolean {
    return this.#statting === undefined && !this.complete && now - this.statAt >= everyMs;
  }

  /**
   * Asks for a stat (one at a time per peer; a caller while one is under way waits for
   * that one). Never rejects: a failure is kept for takeError, so that of the lanes
   * waiting on it exactly one handles it.
   */
  restat(host: Libp2p, digest: Digest, signal: AbortSignal | undefined): Promise<void> {
    if (this.#statting !== undefined) return this.#statting;
    this.statAt = performance.now();
    const p = requestStat(host, this.id, digest, { signal }).then((st) => {
      this.stat = st;
    }, (err: unknown) => {
      this.#error = err;
    }).finally(() => {
      this.#statting = undefined;
    });
    this.#statting = p;
    return p;
  }

  /** The failure of the last stat, once. */
  takeError(): unknown {
    const e = this.#error;
    this.#error = undefined;
    return e;
  }
}
