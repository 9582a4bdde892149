// The asking side of every castor protocol: open a stream to a peer, send one
// length-prefixed request, close our writing side, and read the response header under a
// deadline. What the header says is mapped to typed errors naming the peer.

import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { Digest } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { PeerFailedError, PeerMisbehavedError, RemoteError } from '../errors.js';
import { MAX_HEADER_BYTES, RESPONSE_TIMEOUT } from '../limits.js';
import { sendMessage, StreamBytes } from '../stream-io.js';
import { Status } from './exchange-pb.js';

/** One request's stream and its reader. */
export interface Exchange {
  readonly stream: Stream;
  readonly bytes: StreamBytes;
  readonly peer: string;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

/** Errors that mean the peer sent something wrong, rather than that the stream broke. */
const LIES = new Set(['HASH_MISMATCH', 'UNEXPECTED_EOF', 'LENGTH_TOO_LARGE', 'MESSAGE_TOO_LARGE', 'MALFORMED_MESSAGE', 'SIZE_MISMATCH', 'INVALID_DIRECTORY']);

/** A failure while reading what `peer` sent about `digest`, as the node reports it. */
export function peerError(err: unknown, peer: string, digest: Digest | undefined): Error {
  if (err instanceof PeerMisbehavedError || err instanceof PeerFailedError || err instanceof RemoteError) return err;
  if (err instanceof CastorError && (LIES.has(err.code) || err.code.endsWith('_MISMATCH'))) {
    const detail = err.code === 'UNEXPECTED_EOF' ? `its response ended early (${err.message})` : err.message;
    return new PeerMisbehavedError(peer, digest, detail, { cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new PeerFailedError(peer, err instanceof Error ? err.message : String(err), { cause: err });
}

/** Opens `protocol` to `peer` and sends `request`; the caller reads the answer. */
export async function openExchange(host: Libp2p, peer: PeerId, protocol: string, request: Uint8Array, options: RequestOptions = {}): Promise<Exchange> {
  const name = peer.toString();
  let stream: Stream;
  try {
    stream = await host.dialProtocol(peer, protocol, { signal: options.signal });
  } catch (err: unknown) {
    throw new PeerFailedError(name, `cannot open ${protocol}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const bytes = new StreamBytes(stream);
  const signal = options.signal;
  if (signal !== undefined) {
    const onAbort = (): void => stream.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    stream.addEventListener('close', () => signal.removeEventListener('abort', onAbort), { once: true });
  }
  try {
    await sendMessage(stream, request);
  } catch (err: unknown) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw new PeerFailedError(name, `sending the ${protocol} request failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  // Our side closed without waiting for the request to reach the transport: the answer is
  // read meanwhile (waiting took 2-6 ms a request, often longer than the server took to
  // send a whole 1 MiB range). A close that fails aborts the stream, which the read reports.
  stream.close().catch((err: unknown) => stream.abort(err instanceof Error ? err : new Error(String(err))));
  return { stream, bytes, peer: name };
}

/**
 * Reads and decodes the response header within RESPONSE_TIMEOUT. NOT_FOUND is returned
 * as such; BUSY, BAD_REQUEST and INTERNAL become RemoteError.
 */
export async function readHeader<T extends { status: Status; error: string }>(
  ex: Exchange, decodeFn: (bytes: Uint8Array) => T, digest: Digest | undefined,
): Promise<T> {
  const timer = setTimeout(() => ex.stream.abort(new CastorError('RESPONSE_TIMEOUT', `no response within ${RESPONSE_TIMEOUT} ms`)), RESPONSE_TIMEOUT);
  let header: T;
  try {
    const bytes = await ex.bytes.readMessage(MAX_HEADER_BYTES, 'response header');
    try {
      header = decodeFn(bytes);
    } catch (err: unknown) {
      throw new PeerMisbehavedError(ex.peer, digest, `malformed response header: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  } catch (err: unknown) {
    ex.stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw peerError(err, ex.peer, digest);
  } finally {
    clearTimeout(timer);
  }
  if (header.status !== Status.OK && header.status !== Status.NOT_FOUND) {
    ex.stream.abort(new Error(header.status));
    throw new RemoteError(ex.peer, header.status, header.error);
  }
  return header;
}
