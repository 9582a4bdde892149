// Fetching one blob from peers into the local store. Every byte goes through the
// verifying bao decoder first, so only groups that hashed right are ever written.
//
// Small blobs (up to DIRECT_FETCH_LIMIT) stream from one peer straight into a store
// writer, which publishes the blob only once it is whole and hashes to the digest. Larger
// ones are downloaded into a PartialBlob (partial/<hex>/ in the data dir): the peer's
// outboard (stat, verified against the digest) first, then the slices of the groups
// still missing, from one peer after another; a fetch killed at any moment and started
// again asks only for what is missing. Once every group is held, the partial completes
// into the store. A peer that lies is reported (PeerMisbehavedError) and the next is tried.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { normalizeRanges, type ByteRange } from '../verify/bao/index.js';
import { CastorError } from '../verify/errors.js';
import type { BlobWriter } from '../store/blob-service.js';
import type { DataDir } from '../store/data-dir.js';
import { digestEquals, formatDigest, type Digest } from '../store/digest.js';
import { PartialBlob } from '../store/partial-blob.js';
import { NotFoundOnPeersError, PeerMisbehavedError } from './errors.js';
import { MAX_RANGES } from './limits.js';
import { Pipeline } from './pipeline.js';
import { decodeAnswer, requestBlob, type BlobAnswer } from './protocols/blob-request.js';
import { requestStat, type PeerStat } from './protocols/stat-request.js';

export interface FetchContext {
  readonly host: Libp2p;
  readonly data: DataDir;
}

/** Writes to the partial, and to the store writer, kept in flight at once (pieces of up to 1 MiB). */
const WRITES_IN_FLIGHT = 4;

/** Blobs up to this size are fetched in one go into a store writer, without a partial (and so are not resumable). */
export const DIRECT_FETCH_LIMIT = 1 << 20;

export interface BlobFetchOptions {
  readonly signal?: AbortSignal;
  /** The size the caller expects (a FileNode's): up to DIRECT_FETCH_LIMIT skips the stat round trip. */
  readonly sizeHint?: number;
  /** Called with the size once a peer states it (a claim until the final group verifies). */
  readonly onSize?: (size: number) => void;
  /** Called with each count of verified bytes written. */
  readonly onBytes?: (n: number) => void;
}

export interface BlobFetchResult {
  readonly size: number;
  /** Content bytes that came over the network for this fetch (not counting groups a resumed partial held). */
  readonly fetchedBytes: number;
  /** The peer that served the last of it; undefined when it was local already. */
  readonly peer?: string;
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

/** Fetches `digest` whole into `ctx.data` from `peers`, in order. */
export async function fetchBlob(ctx: FetchContext, digest: Digest, peers: readonly PeerId[], options: BlobFetchOptions = {}): Promise<BlobFetchResult> {
  const local = await ctx.data.blobs.stat(digest);
  if (local !== undefined) return { size: local.size, fetchedBytes: 0 };
  const attempts = new Attempts();
  const resumed = await PartialBlob.resume(ctx.data, digest);
  if (resumed !== undefined) return fetchIntoPartial(ctx, resumed, peers, new Map(), attempts, options);
  const hint = options.sizeHint;
  if (hint !== undefined && hint <= DIRECT_FETCH_LIMIT) return fetchDirect(ctx, digest, peers, attempts, options);
  // The size and outboard from the first peer that has any of it.
  const stats = new Map<string, PeerStat | undefined>();
  for (const peer of peers) {
    options.signal?.throwIfAborted();
    try {
      const st = await requestStat(ctx.host, peer, digest, { signal: options.signal });
      stats.set(peer.toString(), st);
      if (st === undefined) continue;
      if (st.size <= DIRECT_FETCH_LIMIT) return fetchDirect(ctx, digest, peers, attempts, options);
      options.onSize?.(st.size);
      const partial = await PartialBlob.begin(ctx.data, digest, st.size, st.outboard);
      return fetchIntoPartial(ctx, partial, peers, stats, attempts, options);
    } catch (err: unknown) {
      options.signal?.throwIfAborted();
      if (err instanceof CastorError && err.code === 'PARTIAL_BUSY') throw err;
      attempts.add(err);
    }
  }
  return attempts.fail(digest, peers);
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

/** The missing groups of `partial` that `bitfield` (a peer's held groups) covers, as ranges. */
function wanted(partial: PartialBlob, bitfield: Uint8Array | undefined): ByteRange[] {
  const gb = partial.groupBytes;
  const out: ByteRange[] = [];
  for (const r of partial.missingRanges()) {
    for (let g = r.start / gb; g * gb < Math.max(r.end, 1); g++) {
      if (bitfield !== undefined && ((bitfield[g >>> 3] ?? 0) >>> (g & 7) & 1) === 0) continue;
      const start = g * gb;
      const end = Math.min(partial.size, start + gb);
      const last = out[out.length - 1];
      if (last !== undefined && last.end === start) out[out.length - 1] = { start: last.start, end };
      else out.push({ start, end });
    }
  }
  return out;
}

/**
 * Feeds the verified content to a store writer in order while the download is under way,
 * so the blob is stored as it arrives instead of read back from the partial afterwards.
 * Bytes that arrive ahead of the writer are caught up from what the partial holds
 * (verified again as it reads them); when it cannot (groups still missing, bytes out of
 * order), the writer is dropped and the partial completes into the store at the end.
 */
class InOrderStore {
  #writer: BlobWriter | undefined;
  #pos = 0;
  /** The store writer applies writes in call order; a few stay in flight. */
  readonly #writes = new Pipeline(WRITES_IN_FLIGHT);

  constructor(private readonly partial: PartialBlob, data: DataDir) {
    this.#writer = data.blobs.openWriter();
  }

  get active(): boolean {
    return this.#writer !== undefined;
  }

  /** The verified `bytes` at content `offset`, just written to the partial. */
  async feed(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#writer === undefined) return;
    if (offset > this.#pos) await this.#catchUp(offset);
    if (this.#writer === undefined) return;
    if (offset !== this.#pos) return this.drop();
    await this.#writes.add(this.#writer.write(bytes));
    this.#pos += bytes.length;
  }

  async #catchUp(to: number): Promise<void> {
    if (!this.partial.holds({ start: this.#pos, end: to })) return this.drop();
    for await (const piece of this.partial.read({ start: this.#pos, end: to })) await this.#writes.add(this.#writer!.write(piece));
    this.#pos = to;
  }

  /** Publishes the blob once the partial holds all of it; undefined if the writer was dropped. */
  async finish(): Promise<Digest | undefined> {
    if (this.#writer !== undefined && this.#pos < this.partial.size) await this.#catchUp(this.partial.size);
    const writer = this.#writer;
    if (writer === undefined) return undefined;
    this.#writer = undefined;
    try {
      await this.#writes.drain();
      return await writer.close();
    } catch (err: unknown) {
      await writer.abort();
      throw err;
    }
  }

  async drop(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    await this.#writes.settle();
    await writer?.abort();
  }
}

/**
 * Fills `partial` from the peers, each asked only for missing groups it holds, storing
 * the blob as it goes (InOrderStore) or completing the partial at the end. On failure
 * the partial is closed, keeping what verified for the next fetch.
 */
async function fetchIntoPartial(
  ctx: FetchContext, partial: PartialBlob, peers: readonly PeerId[], stats: Map<string, PeerStat | undefined>,
  attempts: Attempts, options: BlobFetchOptions,
): Promise<BlobFetchResult> {
  const { digest } = partial;
  const store = new InOrderStore(partial, ctx.data);
  let fetched = 0;
  let last: string | undefined;
  try {
    options.onSize?.(partial.size);
    for (const peer of peers) {
      if (partial.isComplete) break;
      options.signal?.throwIfAborted();
      try {
        const name = peer.toString();
        if (!stats.has(name)) stats.set(name, await requestStat(ctx.host, peer, digest, { signal: options.signal }));
        const st = stats.get(name);
        if (st === undefined) continue;
        if (st.size !== partial.size) throw new PeerMisbehavedError(name, digest, `states ${st.size} bytes; the outboard held says ${partial.size}`);
        const want = wanted(partial, st.complete ? undefined : st.bitfield);
        for (let i = 0; i < want.length; i += MAX_RANGES) {
          fetched += await fillFrom(ctx, partial, store, peer, want.slice(i, i + MAX_RANGES), options);
          last = name;
        }
      } catch (err: unknown) {
        options.signal?.throwIfAborted();
        attempts.add(err);
      }
    }
    if (!partial.isComplete) attempts.fail(digest, peers);
    const stored = await store.finish();
    if (stored !== undefined) {
      checkStored(digest, stored);
      await partial.abort(); // stored: the partial is no longer needed
    } else {
      await partial.complete();
    }
    return { size: partial.size, fetchedBytes: fetched, peer: last };
  } finally {
    await store.drop();
    // A partial that did not complete stays on disk (what verified, persisted) for the next fetch.
    await partial.close();
  }
}

/** Asks `peer` for `ranges` of the partial's blob and writes what verifies; resolves to the bytes written. */
async function fillFrom(
  ctx: FetchContext, partial: PartialBlob, store: InOrderStore, peer: PeerId, ranges: ByteRange[], options: BlobFetchOptions,
): Promise<number> {
  const answer = await requestBlob(ctx.host, peer, partial.digest, ranges, { signal: options.signal });
  if (answer === undefined) return 0;
  if (answer.claimedSize !== partial.size) {
    answer.exchange.stream.abort(new Error('size mismatch'));
    throw new PeerMisbehavedError(answer.exchange.peer, partial.digest, `claims ${answer.claimedSize} bytes; the verified outboard says ${partial.size}`);
  }
  // The decoder releases the output ranges' bytes in order: walk through them for offsets.
  const output = normalizeRanges(ranges, partial.size).output;
  let ri = 0;
  let pos = output[0]?.start ?? 0;
  let written = 0;
  const writes = new Pipeline(WRITES_IN_FLIGHT);
  try {
    for await (const bytes of decodeAnswer(answer)) {
      for (let at = 0; at < bytes.length;) {
        const r = output[ri]!;
        const take = Math.min(bytes.length - at, r.end - pos);
        const piece = bytes.subarray(at, at + take);
        // The partial hashes the piece when the write is issued and stores it after.
        await writes.add(partial.write(pos, piece));
        await store.feed(pos, piece);
        pos += take;
        at += take;
        if (pos === r.end && ri + 1 < output.length) pos = output[++ri]!.start;
      }
      written += bytes.length;
      options.onBytes?.(bytes.length);
    }
    await writes.drain();
  } finally {
    await writes.settle();
  }
  return written;
}
