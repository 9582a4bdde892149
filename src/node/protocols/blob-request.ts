// /castor/blob/1, asking side: request ranges of a blob and decode the slice that comes
// back with the verifying bao decoder, so only bytes that hashed right are ever yielded.
// A size claimed in the header that the slice contradicts, a bad node, a short or
// malformed answer: PeerMisbehavedError naming the peer and the digest.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { CombinedSource, decode, decodeLength, HEADER_LEN, type ByteRange } from '../../verify/index.js';
import { BLOB_GROUP_LOG } from '../../store/index.js';
import { formatDigest, type Digest } from '../../store/index.js';
import { PeerMisbehavedError } from '../errors.js';
import { closeStream } from '../stream-io.js';
import { BlobRequest, BlobResponse, Status } from './exchange-pb.js';
import { openExchange, peerError, readHeader, type Exchange, type RequestOptions } from './client.js';
import { BLOB_PROTOCOL } from './ids.js';

/** An OK answer to a blob request, its slice not yet read. */
export interface BlobAnswer {
  readonly exchange: Exchange;
  readonly digest: Digest;
  /** The size the peer claims: a hint until the final group verifies. */
  readonly claimedSize: number;
  readonly ranges: readonly ByteRange[] | undefined;
}

/** Asks `peer` for `ranges` of `digest` (all of it when absent); undefined if it has none. */
export async function requestBlob(
  host: Libp2p, peer: PeerId, digest: Digest, ranges?: readonly ByteRange[], options: RequestOptions = {},
): Promise<BlobAnswer | undefined> {
  const request = BlobRequest.encode({
    digest: new Uint8Array(digest),
    ranges: (ranges ?? []).map((r) => ({ start: BigInt(r.start), end: BigInt(r.end) })),
    groupLog: BLOB_GROUP_LOG,
  });
  const exchange = await openExchange(host, peer, BLOB_PROTOCOL, request, options);
  const header = await readHeader(exchange, (b) => BlobResponse.decode(b), digest);
  if (header.status === Status.NOT_FOUND) {
    await closeStream(exchange.stream);
    return undefined;
  }
  if (header.size > BigInt(Number.MAX_SAFE_INTEGER)) {
    exchange.stream.abort(new Error('size out of range'));
    throw new PeerMisbehavedError(exchange.peer, digest, `claims a size of ${header.size} bytes`);
  }
  return { exchange, digest, claimedSize: Number(header.size), ranges };
}

/** The slice's own length header must say what the response header said. */
class CheckedSource extends CombinedSource {
  constructor(private readonly answer: BlobAnswer) {
    super(answer.exchange.bytes.reader, true);
  }

  override async header(): Promise<Uint8Array> {
    const h = await super.header();
    const len = decodeLength(h.subarray(0, HEADER_LEN));
    if (len !== this.answer.claimedSize) {
      throw new PeerMisbehavedError(this.answer.exchange.peer, this.answer.digest, `its header says ${this.answer.claimedSize} bytes, its slice ${len}`);
    }
    return h;
  }
}

export interface DecodeAnswerOptions {
  /** Called once the final group verified: the blob's length is now proven. */
  readonly onLength?: (len: number) => void;
}

/**
 * The verified content bytes of the answer's ranges, in order. On any failure the stream
 * is aborted and the error names the peer (PeerMisbehavedError for bad data).
 */
export async function* decodeAnswer(answer: BlobAnswer, options: DecodeAnswerOptions = {}): AsyncGenerator<Uint8Array> {
  const { exchange, digest } = answer;
  let done = false;
  try {
    yield* decode(new CheckedSource(answer), {
      hash: digest,
      groupLog: BLOB_GROUP_LOG,
      ranges: answer.ranges,
      onLength: options.onLength,
    });
    done = true;
  } catch (err: unknown) {
    throw peerError(err, exchange.peer, digest);
  } finally {
    if (!done) exchange.stream.abort(new Error(`stopped reading ${formatDigest(digest)}`));
    else await closeStream(exchange.stream);
  }
}
