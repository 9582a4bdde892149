// Whether a digest names a tree or a blob on the peers, asked of all of them at once: a
// Directory that verifies against the digest says tree, a stat whose outboard verifies
// says blob. The first such answer decides. A peer that answers garbage, resets or stays
// silent only adds to the failures; it neither decides nor holds up the answer of
// another peer (asked one after another, one bad Directory answer used to fail the fetch
// of a plain blob before any honest peer was asked for it).

import type { Libp2p, PeerId } from '@libp2p/interface';
import type { Digest } from '../../store/index.js';
import { requestDirectory, requestStat } from '../protocols/index.js';

export type ProbeResult =
  | { readonly kind: 'directory'; readonly peer: PeerId; readonly failures: readonly Error[] }
  | { readonly kind: 'blob' | 'none'; readonly failures: readonly Error[] };

/** Asks every peer for the Directory and the stat of `digest` at once; resolves at the first that verifies, or once all answered. */
export async function probeKind(host: Libp2p, digest: Digest, peers: readonly PeerId[], signal?: AbortSignal): Promise<ProbeResult> {
  const stop = new AbortController();
  const both = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
  const failures: Error[] = [];
  let decided: ProbeResult | undefined;
  const decide = (r: ProbeResult): void => {
    decided ??= r;
    stop.abort();
  };
  const ask = async (what: () => Promise<unknown>, kind: (found: unknown) => ProbeResult | undefined): Promise<void> => {
    try {
      const r = kind(await what());
      if (r !== undefined) decide(r);
    } catch (err: unknown) {
      if (!stop.signal.aborted) failures.push(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const tasks = peers.flatMap((peer) => [
    ask(() => requestDirectory(host, peer, digest, { signal: both }), (d) => (d === undefined ? undefined : { kind: 'directory', peer, failures })),
    ask(() => requestStat(host, peer, digest, { signal: both }), (st) => (st === undefined ? undefined : { kind: 'blob', failures })),
  ]);
  const onDecided = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([Promise.all(tasks), onDecided]);
  stop.abort();
  // The rest are aborted; each settled before the fetch goes on.
  await Promise.allSettled(tasks);
  signal?.throwIfAborted();
  return decided ?? { kind: 'none', failures };
}
