// /castor/blob/1, serving side: a BlobRequest (digest, ranges, group log) answered with a
// BlobResponse header and the bao slice of those ranges, verified as it is read from the
// disk store and sent with backpressure, never holding more than a few pieces of the blob.

import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';
import { encodeLength, normalizeRanges, walk, WHOLE, type ByteRange } from '../../verify/bao/index.js';
import { BLOB_GROUP_LOG } from '../../store/blob-service.js';
import { asDigest, type Digest } from '../../store/digest.js';
import type { DataDir } from '../../store/data-dir.js';
import { PartialBlob } from '../../store/partial-blob.js';
import { CastorError } from '../../verify/errors.js';
import { MAX_RANGES } from '../limits.js';
import { send } from '../stream-io.js';
import { SIZE_LIE, tamperMode, type TamperMode } from '../tamper.js';
import { BlobRequest, BlobResponse, Status } from './exchange-pb.js';
import { BLOB_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';
import { openStoredBlob } from './stored-blob.js';
import { PrefetchingChunkReader } from './chunk-prefetch.js';
import { groupRanges, verifiedSlice, type SliceItem } from './verified-slice.js';
import { servedBytes } from '../swarm/served-bytes.js';

/**
 * Blob requests served at once (all peers): each holds a few read-ahead pieces and a
 * stream window, so this bounds the server's memory under a crowd; more get BUSY.
 */
export const MAX_CONCURRENT_BLOB_SERVES = 24;

/** Pieces are gathered into sends of about this many bytes. */
const SEND_BYTES = 256 * 1024;

export interface ParsedBlobRequest {
  readonly digest: Digest;
  /** The ranges asked for; WHOLE when none were given. */
  readonly ranges: readonly ByteRange[];
}

function decodeRequest<T>(decodeFn: () => T, what: string): T {
  try {
    return decodeFn();
  } catch (err: unknown) {
    throw new BadRequestError(`${what} does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function checkRequestDigest(bytes: Uint8Array): Digest {
  if (bytes.length !== 32) throw new BadRequestError(`digest is ${bytes.length} bytes, not 32`);
  return asDigest(bytes.slice());
}

/** Validates a BlobRequest; BadRequestError says what is wrong. */
export function parseBlobRequest(bytes: Uint8Array): ParsedBlobRequest {
  const req = decodeRequest(() => BlobRequest.decode(bytes, { limits: { ranges: MAX_RANGES } }), 'blob request');
  const digest = checkRequestDigest(req.digest);
  if (req.groupLog !== BLOB_GROUP_LOG) throw new BadRequestError(`group log ${req.groupLog} is not served (only ${BLOB_GROUP_LOG})`);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const ranges = req.ranges.map((r) => {
    if (r.start > max || r.end > max) throw new BadRequestError(`range ${r.start}..${r.end} is beyond 2^53`);
    if (r.end < r.start) throw new BadRequestError(`range ${r.start}..${r.end} ends before it starts`);
    return { start: Number(r.start), end: Number(r.end) };
  });
  return { digest, ranges: ranges.length === 0 ? WHOLE : ranges };
}

/** Bytes of the slice of `ranges` over content of `len` bytes (header, parents, groups). */
export function sliceLength(len: number, ranges: readonly ByteRange[]): number {
  let n = 8;
  for (const step of walk(len, BLOB_GROUP_LOG, normalizeRanges(ranges, len).select)) {
    if (step.kind === 'parent') n += 64;
    else if (step.kind === 'group') n += step.len;
  }
  return n;
}

/** Sends items gathered into larger pieces, with the TEST-ONLY tampering applied on the way. */
class SliceSender {
  readonly #stream: Stream;
  readonly #tamper: TamperMode | undefined;
  readonly #len: number;
  readonly #stopAt: number;
  #batch = new Uint8ArrayList();
  #sent = 0;
  #flipped = false;
  stopped = false;

  constructor(stream: Stream, tamper: TamperMode | undefined, len: number, total: number, private readonly count: (n: number) => void) {
    this.#stream = stream;
    this.#tamper = tamper;
    this.#len = len;
    this.#stopAt = tamper === 'truncate' ? Math.floor(total / 2) : Number.POSITIVE_INFINITY;
  }

  async put(items: readonly SliceItem[]): Promise<void> {
    for (const item of items) {
      let bytes = item.bytes;
      if (this.#tamper === 'size' && item.start === undefined && this.#sent === 0 && this.#batch.byteLength === 0) {
        bytes = encodeLength(this.#len + SIZE_LIE);
      } else if (this.#tamper === 'flip' && !this.#flipped && item.end !== undefined && item.end > this.#len / 2 && bytes.length > 0) {
        bytes = bytes.slice();
        const at = Math.max(0, Math.min(bytes.length - 1, Math.floor(this.#len / 2) - item.start!));
        bytes[at]! ^= 0x01;
        this.#flipped = true;
      }
      const room = this.#stopAt - this.#sent - this.#batch.byteLength;
      if (room < bytes.length) {
        if (room > 0) this.#batch.append(bytes.subarray(0, room));
        await this.flush();
        this.stopped = true;
        return;
      }
      this.#batch.append(bytes);
      if (this.#batch.byteLength >= SEND_BYTES) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.#batch.byteLength === 0) return;
    const batch = this.#batch;
    this.#batch = new Uint8ArrayList();
    this.#sent += batch.byteLength;
    await send(this.#stream, batch);
    this.count(batch.byteLength);
  }
}

async function serveBlob(request: Uint8Array, out: Responder, { data }: ServeSources): Promise<void> {
  const { digest, ranges } = parseBlobRequest(request);
  const tamper = tamperMode();
  const blob = await openStoredBlob(data, digest);
  if (blob === undefined) {
    if (!(await servePartial(digest, ranges, out, data))) await out.header(BlobResponse.encode({ status: Status.NOT_FOUND, size: 0n, error: '' }));
    return;
  }
  try {
    const len = blob.length;
    await out.header(BlobResponse.encode({ status: Status.OK, size: BigInt(len + (tamper === 'size' ? SIZE_LIE : 0)), error: '' }));
    const served = servedBytes(data);
    const sender = new SliceSender(out.stream, tamper, len, tamper === 'truncate' ? sliceLength(len, ranges) : 0, (n) => served.add(out.peer, n));
    const spans = groupRanges(ranges, len);
    const content = new PrefetchingChunkReader(blob.layout, await blob.chunksUnder(spans), spans);
    for await (const items of verifiedSlice(digest, len, blob.outboard, content, ranges)) {
      await sender.put(items);
      if (sender.stopped) return;
    }
    await sender.flush();
  } finally {
    await blob.close();
  }
}

/**
 * Serves the slice from a download under way when it holds every group the slice needs
 * (PartialBlob verifies each as it reads it). False when there is no such partial.
 */
async function servePartial(digest: Digest, ranges: readonly ByteRange[], out: Responder, data: DataDir): Promise<boolean> {
  const partial = await PartialBlob.peek(data, digest);
  if (partial === undefined) return false;
  try {
    let pieces: AsyncIterable<Uint8Array>;
    try {
      pieces = partial.slice(ranges);
    } catch (err: unknown) {
      if (err instanceof CastorError && err.code === 'GROUP_NOT_HELD') return false;
      throw err;
    }
    await out.header(BlobResponse.encode({ status: Status.OK, size: BigInt(partial.size), error: '' }));
    const served = servedBytes(data);
    for await (const piece of pieces) {
      await send(out.stream, piece);
      served.add(out.peer, piece.length);
    }
    return true;
  } finally {
    await partial.close();
  }
}

export const blobHandler: ProtocolHandler = {
  protocol: BLOB_PROTOCOL,
  errorHeader: (status, error) => BlobResponse.encode({ status, size: 0n, error }),
  serve: serveBlob,
  maxConcurrent: MAX_CONCURRENT_BLOB_SERVES,
};
