// The serving side of every castor protocol: one request per stream, read under a size
// cap and a deadline, handed to the protocol's handler; limits on what one peer may have
// in flight; every failure answered with an error header when the response has not
// started, else the stream is aborted. A peer that keeps breaking the protocol is
// disconnected. Nothing a peer sends can throw out of here.

import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import type { DataDir } from '../../store/index.js';
import type { TrustStore } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { MAX_ERROR_TEXT, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_REQUEST_BYTES, MAX_REQUESTS_PER_PEER, MAX_VIOLATIONS_PER_PEER, REQUEST_TIMEOUT } from '../limits.js';
import { closeWithin, sendMessage, StreamBytes } from '../stream-io.js';
import { Status } from './exchange-pb.js';

/** What handlers serve from. */
export interface ServeSources {
  readonly data: DataDir;
  readonly trust: TrustStore;
}

/** A request the server refuses as malformed or over a limit (BAD_REQUEST, counted as a violation). */
export class BadRequestError extends CastorError {
  constructor(detail: string) {
    super('BAD_REQUEST', detail, detail);
  }
}

/** Where a handler writes its answer; `started` once the header is out. */
export interface Responder {
  readonly stream: Stream;
  readonly peer: string;
  /** Sends the (length-prefixed) response header. */
  header(encoded: Uint8Array): Promise<void>;
  readonly started: boolean;
}

export interface ProtocolHandler {
  readonly protocol: string;
  /** The protocol's response header carrying only a status and an error text. */
  errorHeader(status: Status, error: string): Uint8Array;
  /** Answers one decoded request; throws BadRequestError for a request it refuses. */
  serve(request: Uint8Array, out: Responder, sources: ServeSources): Promise<void>;
  /**
   * Requests of this protocol served at once from all peers together; more are refused
   * with BUSY at once (clients back off and retry, or ask another peer), so a crowd of
   * fetchers costs bounded memory and each admitted one still moves. @default unlimited
   */
  readonly maxConcurrent?: number;
  /**
   * Requests of this protocol served at once for one peer; more are refused with BUSY.
   * Below maxConcurrent, so one peer never holds every slot. @default unlimited
   */
  readonly maxPerPeer?: number;
}

/** Uses Map counts, so a peer's entry goes away with its last request. */
class PeerCounts {
  readonly #counts = new Map<string, number>();
  get(peer: string): number {
    return this.#counts.get(peer) ?? 0;
  }
  add(peer: string, n: number): number {
    const v = this.get(peer) + n;
    if (v <= 0) this.#counts.delete(peer);
    else this.#counts.set(peer, v);
    return v;
  }
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}

/** Request failures that are the peer's fault. */
function isViolation(err: unknown): boolean {
  return err instanceof CastorError && ['BAD_REQUEST', 'MESSAGE_TOO_LARGE', 'MALFORMED_MESSAGE', 'UNEXPECTED_EOF', 'REQUEST_TIMEOUT'].includes(err.code);
}

export class ExchangeServer {
  readonly #host: Libp2p;
  readonly #sources: ServeSources;
  readonly #handlers: readonly ProtocolHandler[];
  readonly #inFlight = new PeerCounts();
  /** Requests being served per protocol and peer (key: protocol, space, peer). */
  readonly #servingFor = new PeerCounts();
  /** Requests being served per protocol, all peers together. */
  readonly #serving = new Map<string, number>();
  readonly #violations = new PeerCounts();
  /** Reports failures that are not the peer's fault (the node logs them). */
  readonly onError: (err: unknown, protocol: string, peer: string) => void;

  constructor(host: Libp2p, sources: ServeSources, handlers: readonly ProtocolHandler[], onError?: (err: unknown, protocol: string, peer: string) => void) {
    this.#host = host;
    this.#sources = sources;
    this.#handlers = handlers;
    this.onError = onError ?? (() => undefined);
  }

  async start(): Promise<void> {
    for (const h of this.#handlers) {
      await this.#host.handle(h.protocol, (stream, connection) => this.#handle(h, stream, connection), {
        maxInboundStreams: MAX_INBOUND_STREAMS,
        maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      });
    }
  }

  async stop(): Promise<void> {
    for (const h of this.#handlers) await this.#host.unhandle(h.protocol);
  }

  async #handle(h: ProtocolHandler, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    let started = false;
    const out: Responder = {
      stream,
      peer,
      get started() { return started; },
      async header(encoded) {
        started = true;
        await sendMessage(stream, encoded);
      },
    };
    if (this.#inFlight.add(peer, 1) > MAX_REQUESTS_PER_PEER) {
      this.#inFlight.add(peer, -1);
      await this.#refuse(h, out, Status.BUSY, `more than ${MAX_REQUESTS_PER_PEER} requests in flight`);
      return;
    }
    const key = `${h.protocol} ${peer}`;
    const mine = this.#servingFor.get(key);
    if (h.maxPerPeer !== undefined && mine >= h.maxPerPeer) {
      this.#inFlight.add(peer, -1);
      await this.#refuse(h, out, Status.BUSY, `serving ${mine} ${h.protocol} requests for this peer already`);
      return;
    }
    const serving = this.#serving.get(h.protocol) ?? 0;
    if (h.maxConcurrent !== undefined && serving >= h.maxConcurrent) {
      this.#inFlight.add(peer, -1);
      await this.#refuse(h, out, Status.BUSY, `serving ${serving} ${h.protocol} requests already`);
      return;
    }
    this.#serving.set(h.protocol, serving + 1);
    this.#servingFor.add(key, 1);
    const timer = setTimeout(() => stream.abort(new CastorError('REQUEST_TIMEOUT', `no whole request within ${REQUEST_TIMEOUT} ms`)), REQUEST_TIMEOUT);
    try {
      const request = await new StreamBytes(stream).readMessage(MAX_REQUEST_BYTES, 'request');
      clearTimeout(timer);
      await h.serve(request, out, this.#sources);
      // Bounded: close waits for the peer to take the rest of the answer.
      await closeWithin(stream);
    } catch (err: unknown) {
      clearTimeout(timer);
      if (isViolation(err)) {
        await this.#refuse(h, out, Status.BAD_REQUEST, errorText(err));
        if (this.#violations.add(peer, 1) >= MAX_VIOLATIONS_PER_PEER) {
          this.#violations.add(peer, -this.#violations.get(peer));
          await connection.close().catch((e: unknown) => connection.abort(e instanceof Error ? e : new Error(String(e))));
        }
      } else {
        // A stream the peer reset, or aborted for not reading, is the peer's doing, not a local failure.
        if (!(err instanceof CastorError && (err.code === 'STREAM_CLOSED' || err.code === 'PEER_TOO_SLOW'))) this.onError(err, h.protocol, peer);
        await this.#refuse(h, out, Status.INTERNAL, errorText(err));
      }
    } finally {
      this.#inFlight.add(peer, -1);
      this.#servingFor.add(key, -1);
      this.#serving.set(h.protocol, (this.#serving.get(h.protocol) ?? 1) - 1);
    }
  }

  /** An error header if the response has not started and the stream can still take it; else an abort. */
  async #refuse(h: ProtocolHandler, out: Responder, status: Status, text: string): Promise<void> {
    const { stream } = out;
    if (out.started || stream.status !== 'open' || stream.writeStatus !== 'writable') {
      stream.abort(new CastorError(status, text));
      return;
    }
    try {
      await out.header(h.errorHeader(status, text));
      await closeWithin(stream);
    } catch (err: unknown) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
