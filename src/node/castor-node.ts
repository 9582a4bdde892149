// CastorNode: the node as the rest of castor uses it (the daemon, the control API, the
// CLI). It owns the libp2p host, serves the four castor protocols from a data dir, and
// fetches blobs, trees and signed roots from peers into that data dir, verifying
// everything on the way in. Discovery (src/node/discovery): it announces what it holds
// in the DHT, finds holders through connected peers (mDNS's first) and the DHT, and
// dials the peers mDNS finds on the LAN.

import './polyfill.js';
import type { PeerId, PeerInfo } from '@libp2p/interface';
import type { DataDir } from '../store/index.js';
import { formatDigest, type Digest, hashPartBytes } from '../store/index.js';
import { TrustStore, type AcceptedRoot } from '../store/index.js';
import { Announcer } from './discovery/index.js';
import { contentKey, rootKey, storePathKey, type DhtKey } from './discovery/index.js';
import { NoProviderError } from './discovery/index.js';
import { findProviders, type Found } from './discovery/index.js';
import { noteFetched } from './discovery/index.js';
import { DialError, NotFoundOnPeersError } from './errors.js';
import { fetchBlob, type FetchContext, type PeerDroppedEvent } from './fetch/index.js';
import { fetchRoot } from './fetch/index.js';
import { fetchTree } from './fetch/index.js';
import { probeKind } from './fetch/index.js';
import { createHost, parseMultiaddr, type Host } from './host.js';
import { loadOrCreateIdentity } from './identity.js';
import { DIAL_TIMEOUT } from './limits.js';
// Registers the p2p:// store scheme as a side effect.
import { setRunningHost } from './remote/index.js';
import { blobHandler } from './protocols/index.js';
import { directoryHandler } from './protocols/index.js';
import { indexHandler } from './protocols/index.js';
import { pathInfoHandler } from './protocols/index.js';
import { ExchangeServer, type ProtocolHandler } from './protocols/index.js';
import { statHandler } from './protocols/index.js';

export interface CastorNodeConfig {
  /** Multiaddrs to listen on; [] listens nowhere. @default ['/ip4/0.0.0.0/tcp/4001'] (a free port if 4001 is taken) */
  listen?: string[];
  /** Addresses to announce instead of the listening ones. */
  announce?: string[];
  /** Peers dialled at start (failures do not stop the start). */
  bootstrap?: string[];
  /** Run the DHT: announce what this node holds, find providers of what it lacks. @default true */
  dht?: boolean;
  /** Find and dial peers on the LAN with mDNS (multicasts on every interface). @default false (castor daemon turns it on) */
  mdns?: boolean;
  /** Milliseconds between re-announcing everything held. @default 12 h */
  reannounceInterval?: number;
  /** Called the first time mDNS finds each peer (before it is dialled). */
  onLanPeer?: (peerId: string, addresses: string[]) => void;
  /** Called with failures that are not a peer's fault (a damaged local store while serving). @default none */
  onError?: (err: unknown, context: string) => void;
  /** Called when a fetch hangs up on a peer that sent bytes that failed verification (the daemon logs it). */
  onPeerDropped?: (event: PeerDroppedEvent) => void;
}

export interface FetchOptions {
  /** Multiaddrs of peers to ask (dialled first); when absent, connected peers and the DHT's providers (findProviders). */
  peers?: string[];
  onProgress?: (p: { bytes: number; total?: number }) => void;
  /** Called when this fetch hangs up on a peer whose bytes failed verification (besides the node's own onPeerDropped). */
  onPeerDropped?: (event: PeerDroppedEvent) => void;
  signal?: AbortSignal;
}

export interface FetchResult {
  type: 'blob' | 'directory';
  digest: Digest;
  /** Content bytes of the blob, or of all the tree's files. */
  bytes: number;
  /** Content bytes that came over the network (0 when everything was local). */
  fetchedBytes: number;
  files: number;
}

export interface FetchRootOptions {
  peers?: string[];
  signal?: AbortSignal;
}

/** The protocols a node serves, in the order they are registered. */
export const HANDLERS: readonly ProtocolHandler[] = [blobHandler, statHandler, directoryHandler, indexHandler, pathInfoHandler];

export class CastorNode {
  readonly data: DataDir;
  readonly host: Host;
  readonly trust: TrustStore;
  readonly peerId: string;
  readonly #server: ExchangeServer;
  readonly #announcer: Announcer;
  /** Peers mDNS found (peer id text): asked first. */
  readonly #lanPeers = new Set<string>();
  #stopped = false;
  #onPeerDropped: CastorNodeConfig['onPeerDropped'];
  #unregister: () => void = () => undefined;

  private constructor(data: DataDir, host: Host, trust: TrustStore, server: ExchangeServer, announcer: Announcer) {
    this.data = data;
    this.host = host;
    this.trust = trust;
    this.#server = server;
    this.#announcer = announcer;
    this.peerId = host.peerId.toString();
  }

  /** Starts a node on `data`: its identity (created on first start), the host, the protocols, then bootstrap dials. */
  static async start(data: DataDir, config: CastorNodeConfig = {}): Promise<CastorNode> {
    for (const a of config.bootstrap ?? []) parseMultiaddr(a);
    const privateKey = await loadOrCreateIdentity(data.layout.root);
    const host = await createHost({ privateKey, listen: config.listen, announce: config.announce, dht: config.dht, mdns: config.mdns ?? false });
    const trust = new TrustStore(data);
    const onError = config.onError;
    const server = new ExchangeServer(host, { data, trust }, HANDLERS, (err, protocol, peer) => onError?.(err, `serving ${protocol} to ${peer}`));
    try {
      await server.start();
    } catch (err: unknown) {
      await host.stop();
      throw err;
    }
    const announcer = new Announcer(host, data, trust, {
      ...(config.reannounceInterval !== undefined && { interval: config.reannounceInterval }),
      ...(onError && { onError }),
    });
    const node = new CastorNode(data, host, trust, server, announcer);
    node.#unregister = setRunningHost(host);
    node.#onPeerDropped = config.onPeerDropped;
    node.#watchLan(onError, config.onLanPeer);
    await Promise.all((config.bootstrap ?? []).map(async (a) => {
      try {
        await node.connect(a);
      } catch (err: unknown) {
        onError?.(err, `bootstrap ${a}`);
      }
    }));
    // In the background: a provide waits until the DHT has a peer.
    announcer.start();
    return node;
  }

  /** Dials each peer mDNS hears of, and remembers it as a LAN peer (asked first). */
  #watchLan(onError: CastorNodeConfig['onError'], onLanPeer: CastorNodeConfig['onLanPeer']): void {
    const lan = this.host.services.mdns;
    if (lan === undefined) return;
    lan.addEventListener('peer', (event) => {
      const info: PeerInfo = event.detail;
      if (info.id.equals(this.host.peerId) || this.#stopped) return;
      const id = info.id.toString();
      if (!this.#lanPeers.has(id)) onLanPeer?.(id, info.multiaddrs.map(String));
      this.#lanPeers.add(id);
      if (this.host.getConnections(info.id).length > 0) return;
      void (async () => {
        try {
          await this.host.peerStore.merge(info.id, { multiaddrs: info.multiaddrs });
          await this.host.dial(info.id, { signal: AbortSignal.timeout(DIAL_TIMEOUT) });
        } catch (err: unknown) {
          if (!this.#stopped) onError?.(err, `dialling LAN peer ${id}`);
        }
      })();
    });
  }

  /** Peer ids (text) that mDNS found on the LAN. */
  lanPeers(): string[] {
    return [...this.#lanPeers];
  }

  /**
   * Announces in the DHT that this node holds `digest` (a blob or tree root), now and at
   * each re-announce. Resolves once the provide is done (or failed: reported to onError);
   * callers that must not wait for the network need not await it.
   */
  announce(digest: Digest): Promise<void> {
    return this.#announcer.announce(digest);
  }

  /** Announces that this node holds the newest accepted SignedRoot of publisher `publicKey`. */
  announceRoot(publicKey: Uint8Array): Promise<void> {
    return this.#announcer.announceRoot(publicKey);
  }

  /** Announces that this node holds the Nix store path of `hashPart` (its PathInfo in the data dir), now and at each re-announce. */
  announceStorePath(hashPart: string): Promise<void> {
    return this.#announcer.announceStorePath(hashPart);
  }

  /** Peers that may hold the PathInfo of the store path of `hashPart`, best first (as findProviders). */
  async findStorePathProviders(hashPart: string, options: { signal?: AbortSignal } = {}): Promise<PeerId[]> {
    return (await this.#find(storePathKey(hashPartBytes(hashPart)), options.signal)).peers;
  }

  /**
   * Peers that may hold `digest`, best first: connected peers (mDNS's first), then the
   * providers the DHT names (dialled; self and unreachable ones skipped).
   */
  async findProviders(digest: Digest, options: { signal?: AbortSignal } = {}): Promise<PeerId[]> {
    return (await this.#find(contentKey(digest), options.signal)).peers;
  }

  #find(key: DhtKey, signal?: AbortSignal): Promise<Found> {
    return findProviders(this.host, key, { preferred: this.#lanPeers, ...(signal && { signal }) });
  }

  /** Full multiaddrs of this node, each ending /p2p/<peer id>. */
  addresses(): string[] {
    return this.host.getMultiaddrs().map(String);
  }

  /** Connected peers and the addresses of their connections. */
  peers(): { peerId: string; addresses: string[] }[] {
    const byPeer = new Map<string, string[]>();
    for (const c of this.host.getConnections()) {
      const id = c.remotePeer.toString();
      const list = byPeer.get(id) ?? [];
      list.push(c.remoteAddr.toString());
      byPeer.set(id, list);
    }
    return [...byPeer].map(([peerId, addresses]) => ({ peerId, addresses }));
  }

  /** Dials `multiaddr` and resolves to the peer id there. */
  async connect(multiaddr: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return (await this.#dial(multiaddr, options.signal)).toString();
  }

  async #dial(address: string, signal?: AbortSignal): Promise<PeerId> {
    const ma = parseMultiaddr(address);
    const timeout = AbortSignal.timeout(DIAL_TIMEOUT);
    try {
      const conn = await this.host.dial(ma, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
      return conn.remotePeer;
    } catch (err: unknown) {
      signal?.throwIfAborted();
      throw new DialError(address, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /** The peers to ask: those given (dialled now) or every connected peer. */
  async #peersFor(addresses: string[] | undefined, signal?: AbortSignal): Promise<PeerId[]> {
    if (addresses === undefined || addresses.length === 0) return this.host.getPeers();
    const peers: PeerId[] = [];
    for (const a of addresses) {
      const p = await this.#dial(a, signal);
      if (!peers.some((q) => q.equals(p))) peers.push(p);
    }
    return peers;
  }

  get #ctx(): FetchContext {
    return { host: this.host, data: this.data };
  }

  /**
   * Fetches `digest` (a tree or a blob) into the data dir: a tree's Directories, then its
   * blobs; everything verified before it is stored. Resolves once all of it is local.
   */
  async fetch(digest: Digest, options: FetchOptions = {}): Promise<FetchResult> {
    const { signal } = options;
    const given = options.peers !== undefined && options.peers.length > 0;
    // A blob held whole needs nobody (a tree held in part may still need its files' blobs).
    const whole = !given && await this.data.blobs.has(digest);
    const found = given || whole ? undefined : await this.#find(contentKey(digest), signal);
    const peers = found?.peers ?? (whole ? [] : await this.#peersFor(options.peers, signal));
    // A fetcher serves the groups it has verified while it downloads: say so now.
    void this.announce(digest);
    let result: FetchResult;
    try {
      result = await this.#fetchFrom(digest, peers, options);
    } catch (err: unknown) {
      this.#announcer.forget(digest);
      if (found !== undefined && err instanceof NotFoundOnPeersError && !(err instanceof NoProviderError)) {
        throw new NoProviderError(err.what, err.peers, err.failures, found);
      }
      throw err;
    }
    try {
      await noteFetched(this.data, digest);
    } catch {
      // A read-only data dir: announced until this node stops, not after a restart.
    }
    return result;
  }

  async #fetchFrom(digest: Digest, peers: PeerId[], options: FetchOptions): Promise<FetchResult> {
    const { signal, onProgress } = options;
    let done = 0;
    let total: number | undefined;
    const onBytes = (n: number): void => {
      done += n;
      onProgress?.({ bytes: done, total });
    };
    const onPeerDropped = (event: PeerDroppedEvent): void => {
      this.#onPeerDropped?.(event);
      options.onPeerDropped?.(event);
    };
    // Tree or blob: the local store knows, else the first peer whose answer verifies.
    const local = (await this.data.directories.get(digest)) !== undefined;
    const kind = local ? undefined : await probeKind(this.host, digest, peers, signal);
    const treePeers = kind?.kind === 'directory' ? [kind.peer, ...peers.filter((p) => !p.equals(kind.peer))] : peers;
    const tree = !local && kind?.kind !== 'directory' ? undefined : await fetchTree(this.#ctx, digest, treePeers, {
      signal,
      onBytes,
      onPeerDropped,
      onTotal: (bytes) => { total = bytes; onProgress?.({ bytes: done, total }); },
    });
    if (tree !== undefined) return { type: 'directory', digest, bytes: tree.bytes, fetchedBytes: tree.fetchedBytes, files: tree.files };
    try {
      const blob = await fetchBlob(this.#ctx, digest, peers, { signal, onBytes, onPeerDropped, onSize: (size) => { total = size; } });
      return { type: 'blob', digest, bytes: blob.size, fetchedBytes: blob.fetchedBytes, files: 1 };
    } catch (err: unknown) {
      // What went wrong asking for a tree is told too: a lie there may be the whole story.
      if (err instanceof NotFoundOnPeersError) throw new NotFoundOnPeersError(formatDigest(digest), err.peers, [...(kind?.failures ?? []), ...err.failures]);
      throw err;
    }
  }

  /**
   * The newest signed root of publisher `publicKey` (32 bytes) that the peers hold and
   * this data dir accepts: trusted key, valid signature, no rollback or equivocation,
   * unexpired, Index verified. Resolves to the root as the trust store recorded it; its
   * Index blob is then in the store. Throws the rule a candidate broke (UNTRUSTED_KEY,
   * ROLLBACK, …) when none is accepted.
   */
  async fetchRoot(publicKey: Uint8Array, options: FetchRootOptions = {}): Promise<AcceptedRoot> {
    return this.fetchRootWith(this.trust, publicKey, options);
  }

  /**
   * fetchRoot judged by `trust` (the CLI's, which carries --trusted-key) instead of the
   * node's own. Without peers, asks connected peers and the DHT's holders of the key's root.
   */
  async fetchRootWith(trust: TrustStore, publicKey: Uint8Array, options: FetchRootOptions = {}): Promise<AcceptedRoot> {
    const given = options.peers !== undefined && options.peers.length > 0;
    const found = given ? undefined : await this.#find(rootKey(publicKey), options.signal);
    const peers = found?.peers ?? await this.#peersFor(options.peers, options.signal);
    let accepted: AcceptedRoot;
    try {
      accepted = await fetchRoot({ ...this.#ctx, trust }, publicKey, peers, { signal: options.signal });
    } catch (err: unknown) {
      if (found !== undefined && err instanceof NotFoundOnPeersError && !(err instanceof NoProviderError)) {
        throw new NoProviderError(err.what, err.peers, err.failures, found);
      }
      throw err;
    }
    void this.announceRoot(publicKey);
    return accepted;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unregister();
    await this.#announcer.stop();
    await this.#server.stop();
    await this.host.stop();
  }
}
