// How many blob bytes a node served, in total and per peer: the swarm tests and the
// benchmark count them to show who served whom. Kept per data dir (the blob server's
// one handle on the node it serves) so that nodes in one process stay apart and no
// node code has to pass a counter around.

import type { DataDir } from '../../store/index.js';

export class ServedBytes {
  /** Bytes of blob answers sent (slices: content, parents and the length header). */
  total = 0;
  readonly byPeer = new Map<string, number>();

  add(peer: string, n: number): void {
    this.total += n;
    this.byPeer.set(peer, (this.byPeer.get(peer) ?? 0) + n);
  }

  toJSON(): { total: number; byPeer: Record<string, number> } {
    return { total: this.total, byPeer: Object.fromEntries(this.byPeer) };
  }
}

const counters = new WeakMap<DataDir, ServedBytes>();

/** The counter of the node serving `data` (made on first use). */
export function servedBytes(data: DataDir): ServedBytes {
  let c = counters.get(data);
  if (c === undefined) {
    c = new ServedBytes();
    counters.set(data, c);
  }
  return c;
}
