// CastorNode: the node as the rest of castor uses it (the daemon, the control API, the
// CLI). It owns the libp2p host, serves the four castor protocols from a data dir, and
// fetches blobs, trees and signed roots from peers into that data dir, verifying
// everything on the way in.

import './polyfill.js';
import type { PeerId } from '@libp2p/interface';
import type { DataDir } from '../store/data-dir.js';
import { formatDigest, type Digest } from '../store/digest.js';
import { TrustStore, type AcceptedRoot } from '../store/trust/index.js';
import { DialError, NotFoundOnPeersError } from './errors.js';
import { fetchBlob, type FetchContext } from './fetch-blob.js';
import { fetchRoot } from './fetch-root.js';
import { fetchTree } from './fetch-tree.js';
import { createHost, parseMultiaddr, type Host } from './host.js';
import { loadOrCreateIdentity } from './identity.js';
import { DIAL_TIMEOUT } from './limits.js';
// Registers the p2p:// store scheme as a side effect.
import { setRunningHost } from './p2p-store.js';
import { blobHandler } from './protocols/blob-serve.js';
import { directoryHandler } from './protocols/directory-serve.js';
import { indexHandler } from './protocols/index-serve.js';
import { ExchangeServer, type ProtocolHandler } from './protocols/server.js';
import { statHandler } from './protocols/stat-serve.js';

export interface CastorNodeConfig {
  /** Multiaddrs to listen on; [] listens nowhere. @default ['/ip4/0.0.0.0/tcp/4001'] (a free port if 4001 is taken) */
  listen?: string[];
  /** Addresses to announce instead of the listening ones. */
  announce?: string[];
  /** Peers dialled at start (failures do not stop the start). */
  bootstrap?: string[];
  /** Called with failures that are not a peer's fault (a damaged local store while serving). @default none */
  onError?: (err: unknown, context: string) => void;
}

export interface FetchOptions {
  /** Multiaddrs of peers to ask (dialled first); all connected peers when absent. */
  peers?: string[];
  onProgress?: (p: { bytes: number; total?: number }) => void;
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
export const HANDLERS: readonly ProtocolHandler[] = [blobHandler, statHandler, directoryHandler, indexHandler];

export class CastorNode {
  readonly data: DataDir;
  readonly host: Host;
  readonly trust: TrustStore;
  readonly peerId: string;
  readonly #server: ExchangeServer;
  #stopped = false;
  #unregister: () => void = () => undefined;

  private constructor(data: DataDir, host: Host, trust: TrustStore, server: ExchangeServer) {
    this.data = data;
    this.host = host;
    this.trust = trust;
    this.#server = server;
    this.peerId = host.peerId.toString();
  }

  /** Starts a node on `data`: its identity (created on first start), the host, the protocols, then bootstrap dials. */
  static async start(data: DataDir, config: CastorNodeConfig = {}): Promise<CastorNode> {
    for (const a of config.bootstrap ?? []) parseMultiaddr(a);
    const privateKey = await loadOrCreateIdentity(data.layout.root);
    const host = await createHost({ privateKey, listen: config.listen, announce: config.announce });
    const trust = new TrustStore(data);
    const onError = config.onError;
    const server = new ExchangeServer(host, { data, trust }, HANDLERS, (err, protocol, peer) => onError?.(err, `serving ${protocol} to ${peer}`));
    try {
      await server.start();
    } catch (err: unknown) {
      await host.stop();
      throw err;
    }
    const node = new CastorNode(data, host, trust, server);
    node.#unregister = setRunningHost(host);
    await Promise.all((config.bootstrap ?? []).map(async (a) => {
      try {
        await node.connect(a);
      } catch (err: unknown) {
        onError?.(err, `bootstrap ${a}`);
      }
    }));
    return node;
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
    const { signal, onProgress } = options;
    const peers = await this.#peersFor(options.peers, signal);
    let done = 0;
    let total: number | undefined;
    const onBytes = (n: number): void => {
      done += n;
      onProgress?.({ bytes: done, total });
    };
    const tree = await fetchTree(this.#ctx, digest, peers, {
      signal,
      onBytes,
      onTotal: (bytes) => { total = bytes; onProgress?.({ bytes: done, total }); },
    });
    if (tree !== undefined) return { type: 'directory', digest, bytes: tree.bytes, fetchedBytes: tree.fetchedBytes, files: tree.files };
    try {
      const blob = await fetchBlob(this.#ctx, digest, peers, { signal, onBytes, onSize: (size) => { total = size; } });
      return { type: 'blob', digest, bytes: blob.size, fetchedBytes: blob.fetchedBytes, files: 1 };
    } catch (err: unknown) {
      if (err instanceof NotFoundOnPeersError) throw new NotFoundOnPeersError(formatDigest(digest), err.peers, err.failures);
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
    const peers = await this.#peersFor(options.peers, options.signal);
    return fetchRoot({ ...this.#ctx, trust: this.trust }, publicKey, peers, { signal: options.signal });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unregister();
    await this.#server.stop();
    await this.host.stop();
  }
}
