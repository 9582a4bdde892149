// Announcing what this node holds as DHT provider records, so nodes that were never told
// our address can find us by digest (or by publisher key).
//
// What is announced: the roots this node holds, not every chunk: pinned roots (`add` pins),
// roots fetched whole (provided.ts), digests being fetched (the blob server serves the
// groups a partial has verified), and for each publisher key whose latest SignedRoot this
// data dir accepted, the key's root key; and the Nix store paths whose PathInfo it holds,
// by their hash. All of it at start (in the background: a provide
// waits until the DHT has a peer, which may be never for a lone node), each new one as it
// comes, and everything again every `interval`, because provider records expire and the
// peers closest to a key change as nodes come and go.

import type { DataDir } from '../../store/index.js';
import { formatDigest, type Digest, hashPartBytes, PathInfoStore } from '../../store/index.js';
import { limit } from '../../store/index.js';
import { listPins } from '../../store/index.js';
import type { TrustStore } from '../../store/index.js';
import type { Host } from '../host.js';
import { pause } from '../pause.js';
import { contentKey, rootKey, type DhtKey, storePathKey } from './dht-key.js';
import { fetchedRoots, holds } from './provided.js';

/** How often everything held is announced again: well inside kad-dht's 48 h record validity. */
export const DEFAULT_REANNOUNCE_INTERVAL = 12 * 60 * 60_000;
/** One provide may take this long (it walks the DHT to the closest peers); then it is dropped until the next round. */
export const PROVIDE_TIMEOUT = 60_000;
/** Provides in flight at once: a data dir with thousands of pins must not flood the DHT. */
const PROVIDES_IN_FLIGHT = 8;
/** How often a provide waiting for the DHT's first peer looks again. */
const PEER_POLL = 500;

export interface AnnouncerOptions {
  /** Milliseconds between rounds of announcing everything again. @default DEFAULT_REANNOUNCE_INTERVAL */
  readonly interval?: number;
  /** Hears about provides that failed (never fatal: the next round tries again). */
  readonly onError?: (err: unknown, context: string) => void;
}

interface Entry {
  readonly key: DhtKey;
  readonly what: string;
}

export class Announcer {
  readonly #host: Host;
  readonly #data: DataDir;
  readonly #trust: TrustStore;
  readonly #options: AnnouncerOptions;
  /** What this run has announced, by CID text, re-announced each round. */
  readonly #entries = new Map<string, Entry>();
  readonly #stop = new AbortController();
  readonly #run = limit(PROVIDES_IN_FLIGHT);
  #timer: NodeJS.Timeout | undefined;
  #pending = new Set<Promise<void>>();

  constructor(host: Host, data: DataDir, trust: TrustStore, options: AnnouncerOptions = {}) {
    this.#host = host;
    this.#data = data;
    this.#trust = trust;
    this.#options = options;
  }

  /**
   * Whether announcing does anything: only with the DHT, and only on a node that listens
   * (a record naming no address helps nobody: the CLI's short-lived node listens nowhere).
   */
  get enabled(): boolean {
    return this.#host.services.dht !== undefined && this.#host.getMultiaddrs().length > 0;
  }

  /** Starts the first round in the background and schedules the next ones. */
  start(): void {
    if (!this.enabled) return;
    this.#track(this.#announceHeld());
    const interval = this.#options.interval ?? DEFAULT_REANNOUNCE_INTERVAL;
    this.#timer = setInterval(() => this.#track(this.#round()), interval);
    this.#timer.unref();
  }

  /** Announces `digest` (a blob or tree root) now and in every later round. */
  announce(digest: Digest): Promise<void> {
    return this.#provide({ key: contentKey(digest), what: `digest ${formatDigest(digest)}` });
  }

  /** Announces that this node holds the newest accepted SignedRoot of publisher `publicKey`. */
  announceRoot(publicKey: Uint8Array): Promise<void> {
    return this.#provide({ key: rootKey(publicKey), what: `the root of key ${Buffer.from(publicKey).toString('base64')}` });
  }

  /** Announces that this node holds the PathInfo (and tree) of the Nix store path with this hash part. */
  announceStorePath(hashPart: string): Promise<void> {
    return this.#provide({ key: storePathKey(hashPartBytes(hashPart)), what: `store path ${hashPart}` });
  }

  /**
   * Leaves `digest` out of later rounds (a fetch that failed; the partial it left still
   * serves its groups, but a record cannot be taken back, only left to expire).
   */
  forget(digest: Digest): void {
    this.#entries.delete(contentKey(digest).toString());
  }

  /** Stops the schedule and aborts provides under way. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#stop.abort();
    await Promise.allSettled([...this.#pending]);
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** What the data dir holds: pins, fetched roots still held, accepted roots' keys. */
  async #announceHeld(): Promise<void> {
    const digests = new Map<string, Digest>();
    try {
      for (const p of await listPins(this.#data.layout)) digests.set(formatDigest(p.digest), p.digest);
      for (const d of await fetchedRoots(this.#data)) {
        if (!digests.has(formatDigest(d)) && await holds(this.#data, d)) digests.set(formatDigest(d), d);
      }
    } catch (err: unknown) {
      this.#options.onError?.(err, 'listing what to announce');
    }
    let keys: Uint8Array[] = [];
    try {
      keys = (await this.#trust.state.list()).map((a) => a.root.publicKey);
    } catch (err: unknown) {
      this.#options.onError?.(err, 'listing accepted roots to announce');
    }
    let storePaths: string[] = [];
    try {
      storePaths = await new PathInfoStore(this.#data.layout).hashParts();
    } catch (err: unknown) {
      this.#options.onError?.(err, 'listing store paths to announce');
    }
    await Promise.all([
      ...[...digests.values()].map((d) => this.announce(d)),
      ...keys.map((k) => this.announceRoot(k)),
      ...storePaths.map((h) => this.announceStorePath(h)),
    ]);
  }

  /** A scheduled round: everything held now, and everything announced since start. */
  async #round(): Promise<void> {
    await Promise.all([this.#announceHeld(), ...[...this.#entries.values()].map((e) => this.#provide(e))]);
  }

  #provide(entry: Entry): Promise<void> {
    if (!this.enabled || this.#stop.signal.aborted) return Promise.resolve();
    this.#entries.set(entry.key.toString(), entry);
    const p = this.#run(async () => {
      // A lone node (a daemon before mDNS or anyone finds it) waits for a DHT peer here,
      // without a deadline: a provide started now would time out and be reported for nothing.
      while (this.#host.services.dht!.routingTable.size === 0 && !this.#stop.signal.aborted) {
        await pause(PEER_POLL, this.#stop.signal);
      }
      if (this.#stop.signal.aborted) return;
      const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(PROVIDE_TIMEOUT)]);
      try {
        await this.#host.contentRouting.provide(entry.key, { signal });
      } catch (err: unknown) {
        if (!this.#stop.signal.aborted) this.#options.onError?.(err, `announcing ${entry.what}`);
      }
    });
    this.#track(p);
    return p;
  }
}
