// The discovery layer's errors. A fetch that found nobody is still NOT_FOUND (a
// NotFoundOnPeersError, so callers that handle that keep working); its message says where
// it looked, because "no peer has it" means little when the user gave no peer.

import { NotFoundOnPeersError } from '../errors.js';

export interface Searched {
  /** Connected peers asked (found by mDNS, bootstrap, dials or earlier DHT traffic). */
  readonly connected: number;
  /** Whether the DHT was asked (false: this node runs without it, or has no DHT peer). */
  readonly dht: boolean;
  /** Providers the DHT named that were asked too. */
  readonly dhtProviders: number;
}

/** Nobody found through discovery holds `what`. */
export class NoProviderError extends NotFoundOnPeersError {
  constructor(what: string, peers: readonly string[], failures: readonly Error[], readonly searched: Searched) {
    super(what, peers, failures);
    const dht = searched.dht
      ? ` and the DHT (${searched.dhtProviders === 0 ? 'no provider records' : `${searched.dhtProviders} provider${searched.dhtProviders === 1 ? '' : 's'}, none of which had it`})`
      : ' (no DHT peer to ask)';
    const why = failures.length === 0 ? '' : `; ${failures.map((f) => f.message).join('; ')}`;
    this.message = `no peer provides ${what}: asked ${searched.connected} connected peer${searched.connected === 1 ? '' : 's'}${dht}${why}`;
  }
}
