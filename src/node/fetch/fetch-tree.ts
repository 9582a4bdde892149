// Fetching a directory tree: its Directories first (each verified against the digest its
// parent names, then stored leaves first so the local DirectoryService stays closed under
// references), then the blobs its files name, several at once, each verified on arrival.

import { setMaxListeners } from 'node:events';
import type { PeerId } from '@libp2p/interface';
import type { Directory } from '../../store/index.js';
import { limit } from '../../store/index.js';
import { asDigest, formatDigest, type Digest } from '../../store/index.js';
import { DirectoryTreeVerifier } from '../../store/index.js';
import { NotFoundOnPeersError, PeerFailedError, RemoteError } from '../errors.js';
import { fetchBlob, type BlobFetchOptions, type FetchContext } from './fetch-blob.js';
import { TREE_FETCH_CONCURRENCY } from '../limits.js';
import { requestTree } from '../protocols/index.js';

export interface TreeFetchOptions {
  readonly signal?: AbortSignal;
  /** Blobs fetched at once. @default TREE_FETCH_CONCURRENCY */
  readonly concurrency?: number;
  /** Called with the tree's total file bytes once its Directories are in. */
  readonly onTotal?: (bytes: number, files: number) => void;
  /** Called with each count of verified bytes written (fetched blobs only). */
  readonly onBytes?: (n: number) => void;
  /** Called when a peer that sent bad data for one of the blobs is hung up on (see BlobFetchOptions). */
  readonly onPeerDropped?: BlobFetchOptions['onPeerDropped'];
}

export interface TreeFetchResult {
  readonly directories: number;
  readonly files: number;
  /** Sum of the sizes of the tree's files. */
  readonly bytes: number;
  /** Content bytes that came over the network. */
  readonly fetchedBytes: number;
  /** The peer the Directories came from; undefined when they were local. */
  readonly peer?: PeerId;
}

/**
 * The tree of `root` into the local store, from the first peer that has it (its
 * Directories; its blobs from that peer first, then the others). Undefined when neither
 * the local store nor any peer has a Directory `root`.
 */
export async function fetchTree(ctx: FetchContext, root: Digest, peers: readonly PeerId[], options: TreeFetchOptions = {}): Promise<TreeFetchResult | undefined> {
  const got = await treeDirectories(ctx, root, peers, options);
  if (got === undefined) return undefined;
  const { dirs, peer } = got;
  const blobs = new Map<string, { digest: Digest; size: number }>();
  let files = 0;
  let bytes = 0;
  for (const dir of dirs) {
    for (const f of dir.files) {
      files++;
      bytes += Number(f.size);
      blobs.set(formatDigest(f.digest), { digest: asDigest(f.digest), size: Number(f.size) });
    }
  }
  options.onTotal?.(bytes, files);
  const order = peer === undefined ? peers : [peer, ...peers.filter((p) => !p.equals(peer))];
  // The first failure stops the blobs not yet started.
  const stop = new AbortController();
  // One listener per blob request in flight hangs off it.
  setMaxListeners(Number.POSITIVE_INFINITY, stop.signal);
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  setMaxListeners(Number.POSITIVE_INFINITY, signal);
  const run = limit(options.concurrency ?? TREE_FETCH_CONCURRENCY);
  let fetchedBytes = 0;
  const blobOptions: BlobFetchOptions = { signal, onBytes: options.onBytes, onPeerDropped: options.onPeerDropped };
  await Promise.allSettled([...blobs.values()].map((b) => run(async () => {
    signal.throwIfAborted();
    try {
      const r = await withRetries(() => fetchBlob(ctx, b.digest, order, { ...blobOptions, sizeHint: b.size }), signal);
      fetchedBytes += r.fetchedBytes;
    } catch (err: unknown) {
      stop.abort(err);
      throw err;
    }
  })));
  if (stop.signal.aborted) throw stop.signal.reason;
  return { directories: dirs.length, files, bytes, fetchedBytes, peer };
}

/** Attempts at one blob when every peer failed for a passing reason (a reset stream, BUSY). */
const ATTEMPTS = 3;
const RETRY_DELAY_MS = 100;

/** Whether a failure may pass: nobody lied, some peer only failed or was busy. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof NotFoundOnPeersError)) return err instanceof PeerFailedError || (err instanceof RemoteError && err.remoteCode === 'BUSY');
  return err.failures.length > 0 && err.failures.every(isTransient);
}

async function withRetries<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err: unknown) {
      if (i >= ATTEMPTS || signal.aborted || !isTransient(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * i));
    }
  }
}

/** The tree's Directories: local if the store has `root`, else verified from a peer and stored. */
async function treeDirectories(ctx: FetchContext, root: Digest, peers: readonly PeerId[], options: TreeFetchOptions): Promise<{ dirs: Directory[]; peer?: PeerId } | undefined> {
  const local: Directory[] = [];
  for await (const d of ctx.data.directories.getRecursive(root)) local.push(d);
  if (local.length > 0) return { dirs: local };
  let firstError: unknown;
  for (const peer of peers) {
    options.signal?.throwIfAborted();
    const verifier = new DirectoryTreeVerifier(root, `peer ${peer.toString()}`);
    try {
      const tree = await requestTree(ctx.host, peer, root, verifier, { signal: options.signal });
      if (tree === undefined) continue;
      for await (const dir of tree) void dir;
      const dirs = verifier.leavesFirst();
      for (const d of dirs) await ctx.data.directories.put(d);
      return { dirs, peer };
    } catch (err: unknown) {
      if (options.signal?.aborted) throw err;
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  return undefined;
}
