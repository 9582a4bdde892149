// Fetching one blob from peers into the local store. Every byte goes through the
// verifying bao decoder first, so only groups that hashed right are ever written.
//
// Small blobs (up to DIRECT_FETCH_LIMIT) stream from one peer straight into a store
// writer, which publishes the blob only once it is whole and hashes to the digest. Larger
// ones are downloaded into a PartialBlob (partial/<hex>/ in the data dir): every peer is
// asked for its stat at once, and each that claims the blob for its final group under
// the size it claims (prove-size.ts); the first proof (the outboard verified against the
// digest, the size by the final group) begins the partial, or corrects a resumed one whose
// size was never proved, then the missing groups come from all the peers at once (swarm/swarm-fetch.ts),
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
import { holdsFinalGroup, proveSize, type SizeProof } from './prove-size.js';
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
  let partial = await PartialBlob.resume(ctx.data, digest);
  // Its final group verified under its size: the size is proved, every other claim is a lie.
  if (partial !== undefined && partial.has(partial.groupCount - 1)) return fetchIntoPartial(ctx, partial, peers, sources, attempts, options);
  try {
    const hint = options.sizeHint;
    if (partial === undefined && hint !== undefined && hint <= DIRECT_FETCH_LIMIT) return await fetchDirect(ctx, digest, peers, attempts, options);
    const first = await firstProof(ctx, digest, sources, attempts, options);
    options.signal?.throwIfAborted();
    if (first === undefined) return attempts.fail(digest, peers);
    if (first === 'small') {
      // Fetched whole and verified by the decoder; an unproved partial of it is of no use.
      await partial?.abort();
      partial = undefined;
      return await fetchDirect(ctx, digest, peers, attempts, options);
    }
    const st = first.stat;
    if (partial !== undefined && partial.size !== first.size) {
      // Its size was a claim the proof contradicts: what it holds goes with it.
      await partial.abort();
      partial = undefined;
    }
    if (partial === undefined) {
      // Verified by the stat already: the partial takes it from the cache instead of hashing it again.
      cacheOutboard(st.tree);
      partial = await PartialBlob.begin(ctx.data, digest, first.size, st.outboard);
    }
    // Released by the verifying decoder for this digest and size.
    await partial.writeVerified(first.start, first.finalGroup);
    const started = partial;
    partial = undefined;
    return await fetchIntoPartial(ctx, started, peers, sources, attempts, options, first);
  } finally {
    await partial?.close();
  }
}

function uniqueSources(peers: readonly PeerId[]): PeerSource[] {
  const byName = new Map<string, PeerSource>();
  for (const p of peers) if (!byName.has(p.toString())) byName.set(p.toString(), new PeerSource(p));
  return [...byName.values()];
}

/**
 * Asks every peer for its stat at once, and each that claims the blob for the proof of
 * its size (its final group) as its stat arrives. Resolves with the first proof,
 * 'small' once a peer states a size up to DIRECT_FETCH_LIMIT (fetched whole, which proves
 * it), or undefined once every peer answered without either. Proofs still under way are
 * aborted; stat answers still coming are kept by the sources.
 */
async function firstProof(ctx: FetchContext, digest: Digest, sources: readonly PeerSource[], attempts: Attempts, options: BlobFetchOptions): Promise<SizeProof | 'small' | undefined> {
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  const fail = (s: PeerSource, err: unknown): void => {
    if (err instanceof PeerMisbehavedError) dropPeer(ctx.host, s, err, digest, (e) => attempts.add(e), options.onPeerDropped);
    else if (!stop.signal.aborted) {
      attempts.add(err);
      s.failures++;
    }
  };
  let result: SizeProof | 'small' | undefined;
  const decide = (r: SizeProof | 'small'): void => {
    result ??= r;
    stop.abort();
  };
  const proofs = new Set<Promise<void>>();
  const prove = async (s: PeerSource): Promise<void> => {
    try {
      const proof = await proveSize(ctx.host, s, digest, signal);
      if (proof !== undefined) decide(proof);
    } catch (err: unknown) {
      fail(s, err);
    }
  };
  // Stats are not aborted once a proof decided: the swarm goes on with what they say.
  const stats = sources.map(async (s) => {
    await s.restat(ctx.host, digest, options.signal);
    const err = s.takeError();
    if (err !== undefined) return fail(s, err);
    if (s.stat === undefined || stop.signal.aborted) return;
    if (s.stat.size <= DIRECT_FETCH_LIMIT) return decide('small');
    if (!holdsFinalGroup(s)) return;
    const p = prove(s);
    proofs.add(p);
    await p;
  });
  const decided = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([Promise.all(stats), decided]);
  stop.abort();
  // Every proof settled (the rest aborted once one decided) before the fetch goes on.
  await Promise.allSettled([...proofs]);
  return result;
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
  attempts: Attempts, options: BlobFetchOptions, proof?: SizeProof,
): Promise<BlobFetchResult> {
  const { digest } = partial;
  const feeder = new InOrderFeeder(partial, ctx.data);
  let stored = false;
  try {
    options.onSize?.(partial.size);
    if (proof !== undefined) {
      // The final group came over the network too, from the peer that proved the size.
      proof.source.delivered += proof.finalGroup.length;
      options.onBytes?.(proof.finalGroup.length);
    }
    const swarm = new SwarmFetch(ctx.host, partial, feeder, sources, (err) => attempts.add(err), options);
    const r = await swarm.run();
    if (!partial.isComplete) attempts.fail(digest, peers);
    const got = await feeder.finish();
    stored = true;
    checkStored(digest, got);
    await partial.abort(); // stored: the partial is no longer needed
    const fromPeers: Record<string, number> = {};
    for (const s of sources) if (s.delivered > 0) fromPeers[s.name] = s.delivered;
    return { size: partial.size, fetchedBytes: r.fetched + (proof?.finalGroup.length ?? 0), peer: r.last ?? proof?.source.name, fromPeers };
  } finally {
    if (!stored) await feeder.abort();
    // A partial that did not complete stays on disk (what verified, persisted) for the next fetch.
    await partial.close();
  }
}
