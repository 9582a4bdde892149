// Finding peers that hold something, in castor's order of preference: connected peers
// first (those mDNS found on the LAN before the rest: nearest and cheapest), then the
// providers the DHT names, dialled here. A provider that cannot be dialled is skipped.

import type { PeerId, PeerInfo } from '@libp2p/interface';
import type { Host } from '../host.js';
import { DIAL_TIMEOUT } from '../limits.js';
import type { DhtKey } from './dht-key.js';

/** A DHT lookup stops after this long (a lookup on a LAN takes milliseconds; this bounds a sick network). */
export const DHT_LOOKUP_TIMEOUT = 15_000;
/** Providers taken from the DHT for one lookup: enough to spread a fetch over, few enough to dial. */
export const MAX_DHT_PROVIDERS = 16;
/**
 * Once the first provider is in, the lookup runs this much longer for more and then stops:
 * walking to the end of the DHT path costs dials, and one provider is enough to start.
 */
export const PROVIDER_SETTLE = 100;

export interface FindOptions {
  readonly signal?: AbortSignal;
  /** Peer ids (text) to put first among the connected peers: mDNS's. */
  readonly preferred?: ReadonlySet<string>;
  /** @default MAX_DHT_PROVIDERS */
  readonly max?: number;
  /** @default DHT_LOOKUP_TIMEOUT */
  readonly timeout?: number;
  /** Milliseconds to go on looking after the first provider; Infinity: to the end of the lookup. @default PROVIDER_SETTLE */
  readonly settle?: number;
}

export interface Found {
  /** Peers to ask, best first. */
  readonly peers: PeerId[];
  /** How many of them were connected before the lookup. */
  readonly connected: number;
  /** Whether the DHT was asked. */
  readonly dht: boolean;
  /** How many of `peers` the DHT named (and were dialled). */
  readonly dhtProviders: number;
}

/** How long a lookup waits for a connected peer to enter the routing table (identify runs after the dial). */
const ROUTING_TABLE_WAIT = 2_000;

/** Whether the DHT can answer: it runs and has a peer in its routing table (else kad-dht waits for one). */
export function dhtReady(host: Host): boolean {
  const dht = host.services.dht;
  return dht !== undefined && dht.routingTable.size > 0;
}

/**
 * dhtReady, after waiting briefly when peers are connected but not yet in the routing
 * table: a node that has just dialled its bootstrap peers (the CLI's) learns they speak
 * the DHT only once identify has run.
 */
export async function waitDhtReady(host: Host, signal?: AbortSignal): Promise<boolean> {
  if (host.services.dht === undefined) return false;
  const deadline = Date.now() + ROUTING_TABLE_WAIT;
  while (!dhtReady(host) && host.getPeers().length > 0 && Date.now() < deadline) {
    signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, 20));
  }
  return dhtReady(host);
}

/**
 * Providers of `key` the DHT names, self excluded, as they arrive (the lookup is stopped
 * when the caller stops iterating, after `max`, or after `timeout`). Not dialled.
 */
export async function* dhtProviders(host: Host, key: DhtKey, options: FindOptions = {}): AsyncGenerator<PeerInfo> {
  if (!(await waitDhtReady(host, options.signal))) return;
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(options.timeout ?? DHT_LOOKUP_TIMEOUT), ...(options.signal ? [options.signal] : [])]);
  const max = options.max ?? MAX_DHT_PROVIDERS;
  const settle = options.settle ?? PROVIDER_SETTLE;
  const seen = new Set<string>();
  let settling: NodeJS.Timeout | undefined;
  try {
    for await (const info of host.contentRouting.findProviders(key, { signal })) {
      const id = info.id.toString();
      if (info.id.equals(host.peerId) || seen.has(id)) continue;
      seen.add(id);
      if (settling === undefined && Number.isFinite(settle)) settling = setTimeout(() => stop.abort(), settle);
      yield info;
      if (seen.size >= max) return;
    }
  } catch (err: unknown) {
    // A lookup that ran out of time found what it found; the caller's own abort is theirs.
    options.signal?.throwIfAborted();
    if (!signal.aborted) throw err;
  } finally {
    clearTimeout(settling);
    stop.abort();
  }
}

/** Dials a provider the DHT named; undefined when it cannot be reached. */
async function reach(host: Host, info: PeerInfo, signal?: AbortSignal): Promise<PeerId | undefined> {
  try {
    if (info.multiaddrs.length > 0) await host.peerStore.merge(info.id, { multiaddrs: info.multiaddrs });
    const timeout = AbortSignal.timeout(DIAL_TIMEOUT);
    await host.dial(info.id, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
    return info.id;
  } catch {
    signal?.throwIfAborted();
    return undefined;
  }
}

/** Connected peers (preferred first), then the DHT's providers of `key`, dialled. */
export async function findProviders(host: Host, key: DhtKey | undefined, options: FindOptions = {}): Promise<Found> {
  const preferred = options.preferred ?? new Set<string>();
  const connected = host.getPeers();
  const rank = (p: PeerId): number => (preferred.has(p.toString()) ? 0 : 1);
  const peers = [...connected].sort((a, b) => rank(a) - rank(b));
  const dht = key !== undefined && (await waitDhtReady(host, options.signal));
  let dhtCount = 0;
  if (dht) {
    const dials: Promise<PeerId | undefined>[] = [];
    for await (const info of dhtProviders(host, key, options)) {
      if (peers.some((p) => p.equals(info.id))) continue;
      dials.push(reach(host, info, options.signal));
    }
    for (const id of await Promise.all(dials)) {
      if (id === undefined || peers.some((p) => p.equals(id))) continue;
      peers.push(id);
      dhtCount++;
    }
  }
  return { peers, connected: connected.length, dht, dhtProviders: dhtCount };
}
