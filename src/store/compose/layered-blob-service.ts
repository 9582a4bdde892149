// LayeredBlobService: a local tier first, then ordered lower tiers (another data dir,
// later peers through the node layer). Nothing from a lower tier is taken on trust: its
// bytes go through this service's own bao decoder against the digest the caller asked
// for, using the lower tier's outboard, and a whole blob is written through to the local
// tier as it streams by, so the next read is local.

import { BytesReader, HEADER_LEN, StreamReader, decodeLength, groupBytes, normalizeRanges, type ByteReader } from '../../verify/index.js';
import { UnexpectedEofError } from '../../verify/index.js';
import {
  BLOB_GROUP_LOG, checkDigest, checkReadRange,
  type BlobService, type BlobStat, type BlobWriter, type BlobWriterOptions, type Digest, type ReadRange,
} from '../blob-service.js';
import { digestEquals } from '../digest.js';
import { TierHashMismatchError } from './tier-errors.js';
import { verifiedRead } from '../blobs/index.js';

/** Bytes in one verified group of a stored outboard (16 KiB). */
const GROUP = groupBytes(BLOB_GROUP_LOG);

/**
 * Largest blob a range read fetches whole. 1 MiB costs at most 1 MiB more than the range
 * (a few milliseconds on a LAN) and makes the next read of that blob local.
 */
export const DEFAULT_WHOLE_FETCH_LIMIT = 1 << 20;

export interface LayeredBlobServiceOptions {
  /** Names of the tiers in errors, local first (openStores passes the specs). @default 'local', 'lower tier 1', … */
  names?: readonly string[];
  /**
   * A range read of a blob that is not local fetches the whole blob, writes it through and
   * serves the range from it, when the lower tier's stat says the blob is at most this many
   * bytes. Larger blobs have only the groups under the range fetched (verified here, not
   * stored: a partial blob is never written through). 0: never fetch whole for a range.
   * @default DEFAULT_WHOLE_FETCH_LIMIT (1 MiB)
   */
  wholeFetchLimit?: number;
}

/**
 * Reads look in the local tier, then in each lower tier in order; writes go to the local
 * tier only. A whole read from a lower tier yields each group only once this service has
 * verified it, writes it to a local writer as it goes, and publishes the blob locally only
 * when the stream ended and the local writer's digest is the one asked for. A caller that
 * stops early, a lower tier that fails mid-stream or sends bad bytes: the local write is
 * aborted and nothing becomes visible locally; errors reach the caller.
 */
export class LayeredBlobService implements BlobService {
  readonly local: BlobService;
  readonly lowers: readonly BlobService[];
  readonly #names: readonly string[];
  readonly #wholeFetchLimit: number;

  constructor(local: BlobService, lowers: readonly BlobService[], options: LayeredBlobServiceOptions = {}) {
    this.local = local;
    this.lowers = [...lowers];
    this.#names = options.names ?? [];
    const limit = options.wholeFetchLimit ?? DEFAULT_WHOLE_FETCH_LIMIT;
    if (!(limit >= 0)) throw new RangeError(`wholeFetchLimit ${limit} is not a non-negative number`);
    this.#wholeFetchLimit = limit;
  }

  /** The name of tier `i` (0 is the local tier) for messages. */
  tierName(i: number): string {
    return this.#names[i] ?? (i === 0 ? 'local tier' : `lower tier ${i}`);
  }

  async has(digest: Digest): Promise<boolean> {
    checkDigest(digest);
    if (await this.local.has(digest)) return true;
    for (const lower of this.lowers) if (await lower.has(digest)) return true;
    return false;
  }

  /**
   * The local tier's stat, else the first lower tier's that has the blob. A lower tier's
   * answer is a hint, as stored records always are: `read` is what verifies (against the
   * digest, so a wrong outboard or size fails there and is never written through).
   */
  async stat(digest: Digest): Promise<BlobStat | undefined> {
    checkDigest(digest);
    const mine = await this.local.stat(digest);
    if (mine) return mine;
    for (const lower of this.lowers) {
      const st = await lower.stat(digest);
      if (st) return st;
    }
    return undefined;
  }

  /**
   * Local bytes if the blob is local. Otherwise the first lower tier that has it (by its
   * stat, whose outboard this read then verifies against `digest`): a whole read is
   * written through; a range read of a blob up to `wholeFetchLimit` is too (the caller's
   * stream ends once the whole blob is stored); a range read of a larger blob fetches
   * only the 16 KiB groups under the range and stores nothing.
   */
  async read(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkDigest(digest);
    const r = checkReadRange(range);
    const mine = await this.local.read(digest, r);
    if (mine) return mine;
    for (const [i, lower] of this.lowers.entries()) {
      const tier = i + 1;
      const st = await lower.stat(digest);
      if (!st) continue;
      if (r === undefined || st.size <= this.#wholeFetchLimit) {
        const stream = await lower.read(digest);
        if (!stream) continue; // gone between stat and read
        const whole = this.#writeThrough(tier, digest, st.outboard, stream);
        return r === undefined ? whole : rangeOf(whole, r);
      }
      const len = this.#claimedLength(tier, digest, st.outboard);
      // The groups the decoder will ask for: bao slice rules (an empty or past-the-end
      // range proves the final group), rounded out to whole groups.
      const select = normalizeRanges([r], len).select[0]!;
      const start = Math.floor(select.start / GROUP) * GROUP;
      const end = Math.min(len, Math.ceil(select.end / GROUP) * GROUP);
      const stream = await lower.read(digest, { start, end });
      if (!stream) continue;
      return this.#verify(tier, digest, st.outboard, stream, start, r);
    }
    return undefined;
  }

  /** A writer into the local tier. */
  openWriter(options?: BlobWriterOptions): BlobWriter {
    return this.local.openWriter(options);
  }

  /** Streams the lower tier's whole blob through verification and a local writer. */
  async *#writeThrough(tier: number, digest: Digest, outboard: Uint8Array, stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    // Opened on first pull, so a stream the caller never iterates leaves nothing open.
    const writer = this.local.openWriter();
    let published = false;
    try {
      for await (const bytes of this.#verify(tier, digest, outboard, stream, 0, undefined)) {
        await writer.write(bytes);
        yield bytes;
      }
      const stored = await writer.close();
      published = true;
      // The decoder already proved every byte; this catches a local store that hashes wrong.
      if (!digestEquals(stored, digest)) throw new TierHashMismatchError(this.tierName(0), 'blob', digest, stored);
    } finally {
      if (!published) await writer.abort();
    }
  }

  /** The lower tier's bytes (which start at content offset `base`), released only once verified. */
  #verify(tier: number, digest: Digest, outboard: Uint8Array, stream: AsyncIterable<Uint8Array>, base: number, range: ReadRange | undefined): AsyncGenerator<Uint8Array> {
    const it = stream[Symbol.asyncIterator]();
    return verifiedRead({
      digest,
      outboard: new BytesReader(outboard),
      data: new ShiftedReader(new StreamReader({ [Symbol.asyncIterator]: () => it }), base),
      range,
      blame: async (err, offset) => new TierHashMismatchError(this.tierName(tier), 'blob', digest, undefined, { offset, cause: err }),
      // Stops the lower tier's stream however this one ends (early stop, error, extra bytes).
      release: async () => { await it.return?.(); },
    });
  }

  #claimedLength(tier: number, digest: Digest, outboard: Uint8Array): number {
    try {
      if (outboard.length < HEADER_LEN) throw new UnexpectedEofError(outboard.length, HEADER_LEN - outboard.length);
      return decodeLength(outboard.subarray(0, HEADER_LEN));
    } catch (err: unknown) {
      throw new TierHashMismatchError(this.tierName(tier), 'blob', digest, undefined, { offset: 0, cause: err });
    }
  }
}

/** The part of a whole-blob stream inside `r`; the whole stream is still drained (and so stored). */
async function* rangeOf(whole: AsyncIterable<Uint8Array>, r: ReadRange): AsyncGenerator<Uint8Array> {
  let pos = 0;
  for await (const bytes of whole) {
    const s = Math.max(r.start, pos);
    const e = Math.min(r.end, pos + bytes.length);
    if (e > s) yield bytes.subarray(s - pos, e - pos);
    pos += bytes.length;
  }
}

/**
 * A reader over a stream that begins at content offset `base`: the decoder's skip over
 * the first `base` bytes costs nothing, since the lower tier never sent them.
 */
class ShiftedReader implements ByteReader {
  /** Bytes before the stream's first byte not yet skipped. */
  #gap: number;
  readonly #base: number;

  constructor(private readonly inner: ByteReader, base: number) {
    this.#gap = base;
    this.#base = base;
  }

  get position(): number {
    return this.#base - this.#gap + this.inner.position;
  }

  readNow(n: number): Uint8Array | null {
    if (this.#gap > 0 && n > 0) return null;
    return this.inner.readNow?.(n) ?? null;
  }

  async read(n: number): Promise<Uint8Array> {
    // The range was rounded out to the groups the decoder needs, so it never asks for these.
    if (this.#gap > 0 && n > 0) throw new Error(`bytes before offset ${this.#base} were not fetched`);
    return this.inner.read(n);
  }

  async skip(n: number): Promise<void> {
    const free = Math.min(n, this.#gap);
    this.#gap -= free;
    await this.inner.skip(n - free);
  }
}
