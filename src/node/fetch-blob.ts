// Fetching one blob from peers into the local store: the first peer that has it streams
// its bao slice, the verifying decoder releases only groups that hashed right, and those
// go straight into a store writer, which publishes the blob only once it is whole and
// hashes to the digest asked for. A peer that lies is reported (PeerMisbehavedError) and
// the next peer is tried; nothing it sent past the last verified group is kept.

import type { Libp2p, PeerId } from '@libp2p/interface';
import type { DataDir } from '../store/data-dir.js';
import { digestEquals, formatDigest, type Digest } from '../store/digest.js';
import { NotFoundOnPeersError, PeerMisbehavedError } from './errors.js';
import { decodeAnswer, requestBlob } from './protocols/blob-request.js';

export interface FetchContext {
  readonly host: Libp2p;
  readonly data: DataDir;
}

export interface BlobFetchOptions {
  readonly signal?: AbortSignal;
  /** Called with the size once a peer's answer arrives (a claim until the end verifies). */
  readonly onSize?: (size: number) => void;
  /** Called with each count of verified bytes written. */
  readonly onBytes?: (n: number) => void;
}

export interface BlobFetchResult {
  readonly size: number;
  /** Content bytes that came over the network for this fetch. */
  readonly fetchedBytes: number;
  /** The peer that served it; undefined when it was local already. */
  readonly peer?: string;
}

/** Fetches `digest` whole into `ctx.data` from the first of `peers` that has it. */
export async function fetchBlob(ctx: FetchContext, digest: Digest, peers: readonly PeerId[], options: BlobFetchOptions = {}): Promise<BlobFetchResult> {
  const local = await ctx.data.blobs.stat(digest);
  if (local !== undefined) return { size: local.size, fetchedBytes: 0 };
  const failures: Error[] = [];
  for (const peer of peers) {
    options.signal?.throwIfAborted();
    try {
      const r = await fetchBlobFrom(ctx, digest, peer, options);
      if (r !== undefined) return r;
    } catch (err: unknown) {
      if (options.signal?.aborted) throw err;
      failures.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  // A lying peer is the failure to report first: it is what the user must hear about.
  const lie = failures.find((f) => f instanceof PeerMisbehavedError);
  if (lie !== undefined) throw lie;
  throw new NotFoundOnPeersError(`blob ${formatDigest(digest)}`, peers.map(String), failures);
}

/** One peer's attempt: undefined if it does not have the blob. */
async function fetchBlobFrom(ctx: FetchContext, digest: Digest, peer: PeerId, options: BlobFetchOptions): Promise<BlobFetchResult | undefined> {
  const answer = await requestBlob(ctx.host, peer, digest, undefined, { signal: options.signal });
  if (answer === undefined) return undefined;
  options.onSize?.(answer.claimedSize);
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
    // The decoder proved every byte; a mismatch here is the local store hashing wrong.
    if (!digestEquals(stored, digest)) throw new Error(`local store stored ${formatDigest(digest)} as ${formatDigest(stored)}`);
    return { size: fetched, fetchedBytes: fetched, peer: answer.exchange.peer };
  } finally {
    if (!published) await writer.abort();
  }
}
