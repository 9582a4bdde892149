// The libp2p host: TCP, Noise, yamux, identify and ping, with castor's limits; kad-dht on
// castor's private protocol (on unless turned off) and mDNS (only when asked: it
// multicasts on every interface). Never any public bootstrap peers: a node knows only the
// peers it is told about (bootstrap addresses, dials, inbound connections), the peers
// those know (the DHT), and with mDNS the peers on its LAN.

import './polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify, type Identify } from '@libp2p/identify';
import type { Libp2p, PeerDiscovery, PrivateKey } from '@libp2p/interface';
import { kadDHT, passthroughMapper, type KadDHTComponents, type SingleKadDHT } from '@libp2p/kad-dht';
import { mdns } from '@libp2p/mdns';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type ServiceFactoryMap } from 'libp2p';
import { DHT_PROTOCOL } from './discovery/index.js';
import { InvalidPeerAddressError } from './errors.js';
import {
  DIAL_TIMEOUT, INBOUND_CONNECTION_THRESHOLD, MAX_INCOMING_PENDING, MAX_READ_BUFFER, MAX_STREAM_WINDOW,
} from './limits.js';

/** Where a node listens when told nothing: every interface, TCP port 4001 (a free port if that one is taken). */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001'];

export interface HostOptions {
  readonly privateKey: PrivateKey;
  /** Multiaddrs to listen on; [] listens nowhere (a client only). @default DEFAULT_LISTEN */
  readonly listen?: readonly string[];
  /** Addresses to tell peers instead of the listening ones (NAT, containers). */
  readonly announce?: readonly string[];
  /** Run kad-dht (server mode) on DHT_PROTOCOL. @default true */
  readonly dht?: boolean;
  /** Find peers on the LAN with mDNS (multicast on every interface). @default false */
  readonly mdns?: boolean;
}

export { DHT_PROTOCOL };

// A type, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type HostServices = {
  identify: Identify;
  ping: Ping;
  /** Present when the host runs the DHT. */
  dht?: SingleKadDHT;
  /** Present when the host runs mDNS; emits 'peer' for each peer it hears of. */
  mdns?: PeerDiscovery;
};

export type Host = Libp2p<HostServices>;

/** Parses a multiaddr argument; INVALID_ADDRESS with the reason otherwise. */
export function parseMultiaddr(text: string): Multiaddr {
  if (typeof text !== 'string' || !text.startsWith('/')) throw new InvalidPeerAddressError(String(text), 'a multiaddr starts with /, as in /ip4/192.0.2.1/tcp/4001/p2p/12D3Koo…');
  try {
    return multiaddr(text);
  } catch (err: unknown) {
    throw new InvalidPeerAddressError(text, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function isAddressInUse(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(e.message)) return true;
    const errors = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.some(isAddressInUse)) return true;
  }
  return false;
}

function services(options: HostOptions, listen: readonly string[]): ServiceFactoryMap<HostServices> {
  const out: ServiceFactoryMap<HostServices> = { identify: identify(), ping: ping() };
  if (options.dht !== false) {
    // kadDHT() is typed as the multi-DHT interface; one DHT is a SingleKadDHT (it has a routing table).
    out.dht = kadDHT({
      protocol: DHT_PROTOCOL,
      // A LAN or loopback node cannot learn it is dialable the way kad-dht expects of a
      // public node, so it would stay a client and answer nobody: serve from the start.
      // Except a node that listens nowhere (the CLI's own): nobody can dial it back, so it
      // must not enter other nodes' routing tables; it only asks.
      clientMode: listen.length === 0,
      // The default mapper drops private and loopback addresses from provider records;
      // castor is a LAN tool, where those are the only addresses there are.
      peerInfoMapper: passthroughMapper,
      // kad-dht holds every query until its first self-query has run, and starts that one
      // a second after start by default: a CLI fetch would idle that second. Start it at
      // once (it waits for a first routing-table peer, then takes milliseconds on a LAN).
      initialQuerySelfInterval: 0,
    }) as (components: KadDHTComponents) => SingleKadDHT;
  }
  if (options.mdns === true) out.mdns = mdns();
  return out;
}

async function build(options: HostOptions, listen: readonly string[]): Promise<Host> {
  const { privateKey, announce } = options;
  const node = await createLibp2p({
    privateKey,
    start: false,
    addresses: { listen: [...listen], ...(announce !== undefined && announce.length > 0 ? { announce: [...announce] } : {}) },
    transports: [tcp({ inboundSocketInactivityTimeout: 5 * 60_000, outboundSocketInactivityTimeout: 5 * 60_000 })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({
      // No inactivityTimeout: yamux stores it and never acts on it. Reads are bounded by
      // stream-io.ts's progress rule (IDLE_TIMEOUT, MIN_PEER_RATE) instead.
      streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW, maxReadBufferLength: MAX_READ_BUFFER },
    })],
    connectionManager: {
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING,
      dialTimeout: DIAL_TIMEOUT,
    },
    services: services(options, listen),
  });
  try {
    await node.start();
  } catch (err: unknown) {
    try {
      await node.stop();
    } catch {
      // The start failure is the one to report.
    }
    throw err;
  }
  return node as unknown as Host;
}

/**
 * Creates and starts the host. With the default listen address, a taken port 4001 falls
 * back to a free port; explicit addresses that cannot be bound are an error.
 */
export async function createHost(options: HostOptions): Promise<Host> {
  const listen = options.listen ?? DEFAULT_LISTEN;
  for (const a of [...listen, ...(options.announce ?? [])]) parseMultiaddr(a);
  try {
    return await build(options, listen);
  } catch (err: unknown) {
    if (options.listen !== undefined || !isAddressInUse(err)) throw err;
    return build(options, DEFAULT_LISTEN.map((a) => a.replace(/\/tcp\/\d+$/, '/tcp/0')));
  }
}
