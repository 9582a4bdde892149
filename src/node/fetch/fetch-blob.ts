// Fetching one blob from peers into the local store. Every byte goes through the
// verifying bao decoder first, so only groups that hashed right are ever written.
//
// Small blobs (up to DIRECT_FETCH_LIMIT) stream from one peer straight into a store
// writer, which publishes the blob only once it is whole and hashes to the digest. Larger
// ones are downloaded into a PartialBlob (partial/<hex>/ in the data dir): every peer is
// asked for its stat at once, the first outboard (verified against the digest) begins the
// partial, then the missing groups come from all the peers at once (swarm/swarm-fetch.ts),
// each asked only for groups it holds; a fetch killed at any moment and started again
// asks only for what is missing. The blob is stored as it arrives (swarm/in-order-feeder.ts).
// A peer that lies is hung up on, reported (onPeerDropped) and not asked again; the
// others carry on. When every peer failed, a lie is the error reported first.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { CastorError } from '../../verify/index.js';
import type { DataDir } from '../../store/index.js';
import { digestEquals, formatDigest, type Digest } from '../../store/index.js';
import { cacheOutboard } from '../../store/index.js';
import { PartialBlob } from '../../store/index.js';
import { NotFoundOnPeersError, PeerMisbehavedError } from '../errors.js';
import { decodeAnswer, requestBlob, type BlobAnswer } from '../protocols/index.js';
import { InOrderFeeder } from '../swarm/index.js';
import { PeerSource } from '../swarm/index.js';
import { dropPeer, SwarmFetch, type SwarmOptions } from '../swarm/index.js';

export type { PeerDroppedEvent } from '../swarm/index.js';

export interface FetchContext {
  readonly host: Libp2p;
  readonly data: DataDir;
}

/** Blobs up to this size are fetched in one go into a store writer, without a partial (and so are not resumable). */
export const DIRECT_FETCH_LIMIT = 1 << 20;

/** The swarm's options (signal, onBytes, onPeerDropped, stallMs, restatMs, lanesPerPeer), and: */
export interface BlobFetchOptions extends SwarmOptions {
  /** The size the caller expects (a FileNode's): up to DIRECT_FETCH_LIMIT skips the stat round trip. */
  readonly sizeHint?: number;
  /** Called with the size once a peer states it (a claim until the final group verifies). */
  readonly onSize?: (size: number) => void;
}

export interface BlobFetchResult {
  readonly size: number;
  /** Content bytes that came over the network for this fetch (not counting groups a resumed partial held). */
  readonly fetchedBytes: number;
  /** The peer that served the last of it; undefined when it was local already. */
  readonly peer?: string;
  /** Content bytes each peer delivered (peer id to bytes), for a blob fetched through a partial. */
  readonly fromPeers?: Readonly<Record<string, number>>;
}

/** What the attempts at one blob collect, for the error when all of them fail. */
class Attempts {
  readonly failures: Error[] = [];
  add(err: unknown): void {
    this.failures.push(err instanceof Error ? err : new Error(String(err)));
  }
  /** A lying peer first: it is what the user must hear about. */
  fail(digest: Digest, peers: readonly PeerId[]): never {
    const lie = this.failures.find((f) => f instanceof PeerMisbehavedError);
    if (lie !== undefined) throw lie;
    throw new NotFoundOnPeersError(`blob ${formatDigest(digest)}`, peers.map(String), this.failures);
  }
}

/** Fetches `digest` whole into `ctx.data` from `peers`: small blobs from one peer after another, larger ones from all at once. */
export async function fetchBlob(ctx: FetchContext, digest: Digest, peers: readonly PeerId[], options: BlobFetchOptions = {}): Promise<BlobFetchResult> {
  const local = await ctx.data.blobs.stat(digest);
  if (local !== undefined) return { size: local.size, fetchedBytes: 0 };
  const attempts = new Attempts();
  const sources = uniqueSources(peers);
  const resumed = await PartialBlob.resume(ctx.data, digest);
  if (resumed !== undefined) return fetchIntoPartial(ctx, resumed, peers, sources, attempts, options);
  const hint = options.sizeHint;
  if (hint !== undefined && hint <= DIRECT_FETCH_LIMIT) return fetchDirect(ctx, digest, peers, attempts, options);
  // Every peer stated at once; the first that has the blob gives the size and outboard.
  const first = await firstStat(ctx, digest, sources, attempts, options);
  options.signal?.throwIfAborted();
  const st = first?.stat;
  if (st === undefined) return attempts.fail(digest, peers);
  if (st.size <= DIRECT_FETCH_LIMIT) return fetchDirect(ctx, digest, peers, attempts, options);
  options.onSize?.(st.size);
  // Verified by the stat already: the partial takes it from the cache instead of hashing it again.
  cacheOutboard(st.tree);
  const partial = await PartialBlob.begin(ctx.data, digest, st.size, st.outboard);
  return fetchIntoPartial(ctx, partial, peers, sources, attempts, options);
}

function uniqueSources(peers: readonly PeerId[]): PeerSource[] {
  const byName = new Map<string, PeerSource>();
  for (const p of peers) if (!byName.has(p.toString())) byName.set(p.toString(), new PeerSource(p));
  return [...byName.values()];
}

/**
 * Asks every peer for its stat at once; resolves with the first that has the blob, or
 * undefined once all answered without it. Answers still coming are kept by the sources.
 */
async function firstStat(ctx: FetchContext, digest: Digest, sources: readonly PeerSource[], attempts: Attempts, options: BlobFetchOptions): Promise<PeerSource | undefined> {
  return new Promise((resolve) => {
    let left = sources.length;
    if (left === 0) resolve(undefined);
    for (const s of sources) {
      void s.restat(ctx.host, digest, options.signal).then(() => {
        const err = s.takeError();
        if (err instanceof PeerMisbehavedError) dropPeer(ctx.host, s, err, digest, (e) => attempts.add(e), options.onPeerDropped);
        else if (err !== undefined) {
          attempts.add(err);
          s.failures++;
        }
        if (s.stat !== undefined) resolve(s);
        if (--left === 0) resolve(undefined);
      });
    }
  });
}

/** The whole blob from the first peer that has it, decoded straight into a store writer. */
async function fetchDirect(ctx: FetchContext, digest: Digest, peers: readonly PeerId[], attempts: Attempts, options: BlobFetchOptions): Promise<BlobFetchResult> {
  for (const peer of peers) {
    options.signal?.throwIfAborted();
    try {
      const r = await directFrom(ctx, digest, peer, options);
      if (r !== undefined) return r;
    } catch (err: unknown) {
      options.signal?.throwIfAborted();
      attempts.add(err);
    }
  }
  return attempts.fail(digest, peers);
}

async function directFrom(ctx: FetchContext, digest: Digest, peer: PeerId, options: BlobFetchOptions): Promise<BlobFetchResult | undefined> {
  const answer = await requestBlob(ctx.host, peer, digest, undefined, { signal: options.signal });
  if (answer === undefined) return undefined;
  options.onSize?.(answer.claimedSize);
  if (answer.claimedSize <= DIRECT_FETCH_LIMIT) return smallFrom(ctx, answer, options);
  const writer = ctx.data.blobs.openWriter();
  let fetched = 0;
  let published = false;
  try {
    for await (const bytes of decodeAnswer(answer)) {
      await writer.write(bytes);
      fetched += bytes.length;
      options.onBytes?.(bytes.length);
    }
    const stored = await writer.close();
    published = true;
    checkStored(digest, stored);
    return { size: fetched, fetchedBytes: fetched, peer: answer.exchange.peer };
  } finally {
    if (!published) await writer.abort();
  }
}

/** A small blob gathered in memory as it verifies, then stored in one call (no writer, no staging dir). */
async function smallFrom(ctx: FetchContext, answer: BlobAnswer, options: BlobFetchOptions): Promise<BlobFetchResult> {
  const out = new Uint8Array(answer.claimedSize);
  let at = 0;
  // The slice's length header was checked to be the claimed size, so the decoder yields no more.
  for await (const bytes of decodeAnswer(answer)) {
    out.set(bytes, at);
    at += bytes.length;
    options.onBytes?.(bytes.length);
  }
  const { digest: stored } = await ctx.data.blobs.putBytes(out.subarray(0, at));
  checkStored(answer.digest, stored);
  return { size: at, fetchedBytes: at, peer: answer.exchange.peer };
}

/** The decoder proved every byte; a mismatch here is the local store hashing wrong. */
function checkStored(digest: Digest, stored: Digest): void {
  if (!digestEquals(stored, digest)) throw new CastorError('HASH_MISMATCH', `the local store stored ${formatDigest(digest)} as ${formatDigest(stored)}`, formatDigest(stored));
}

/**
 * Fills `partial` from all the peers at once (SwarmFetch), storing the blob as it
 * arrives (InOrderFeeder) and publishing it once whole. On failure the partial is
 * closed, keeping what verified for the next fetch.
 */
async function fetchIntoPartial(
  ctx: FetchContext, partial: PartialBlob, peers: readonly PeerId[], sources: readonly PeerSource[],
  attempts: Attempts, options: BlobFetchOptions,
): Promise<BlobFetchResult> {
  const { digest } = partial;
  const feeder = new InOrderFeeder(partial, ctx.data);
  let stored = false;
  try {
    options.onSize?.(partial.size);
    const swarm = new SwarmFetch(ctx.host, partial, feeder, sources, (err) => attempts.add(err), options);
    const r = await swarm.run();
    if (!partial.isComplete) attempts.fail(digest, peers);
    const got = await feeder.finish();
    stored = true;
    checkStored(digest, got);
    await partial.abort(); // stored: the partial is no longer needed
    const fromPeers: Record<string, number> = {};
    for (const s of sources) if (s.delivered > 0) fromPeers[s.name] = s.delivered;
    return { size: partial.size, fetchedBytes: r.fetched, peer: r.last, fromPeers };
  } finally {
    if (!stored) await feeder.abort();
    // A partial that did not complete stays on disk (what verified, persisted) for the next fetch.
    await partial.close();
  }
}
