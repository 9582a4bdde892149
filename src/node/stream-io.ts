// Reading and writing a libp2p 3 stream with backpressure both ways. Reading: message
// events are queued and the stream is paused once HIGH_WATER bytes wait unread (yamux then
// stops granting window), resumed below LOW_WATER; the queue is consumed through an
// exact ByteReader, so the bao decoders read a stream as they read a file. Writing:
// `send()` returning false means wait for the stream to drain (see send()). Messages are length-prefixed
// (unsigned varint) and every read of one is capped.

import type { Stream } from '@libp2p/interface';
import type { Uint8ArrayList } from 'uint8arraylist';
import { StreamReader, type ByteReader } from '../verify/index.js';
import { CastorError } from '../verify/index.js';
import { HIGH_WATER, IDLE_TIMEOUT, LOW_WATER, MIN_PEER_RATE } from './limits.js';

/** A length prefix that is malformed or over the cap; `value` is the length claimed. */
export class MessageTooLargeError extends CastorError {
  constructor(readonly length: number, readonly max: number, what: string) {
    super('MESSAGE_TOO_LARGE', `${what} of ${length} bytes is over the ${max}-byte limit`, length);
  }
}

export class MalformedMessageError extends CastorError {
  constructor(what: string, detail: string, options?: { cause?: unknown }) {
    super('MALFORMED_MESSAGE', `${what} is malformed: ${detail}`, what, options);
  }
}

/** The peer sent too little for too long while we waited on it (the progress rule of StreamInput). */
export class PeerTooSlowError extends CastorError {
  constructor(readonly bytes: number, readonly waitedMs: number, readonly doing: 'sending' | 'reading' = 'sending', options?: { cause?: unknown }) {
    super('PEER_TOO_SLOW', doing === 'sending'
      ? `the peer sent ${bytes} bytes in ${Math.round(waitedMs)} ms of waiting on it, below ${MIN_PEER_RATE} bytes/s or silent for ${IDLE_TIMEOUT} ms`
      : `the peer did not read what was sent to it within ${Math.round(waitedMs)} ms (below ${MIN_PEER_RATE} bytes/s or not at all)`, bytes, options);
  }
}

/** The stream was reset or aborted by either side; `cause` says why when known. */
export class StreamClosedError extends CastorError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('STREAM_CLOSED', `stream closed: ${detail}`, detail, options);
  }
}

/**
 * The bytes arriving on a stream, as an async iterable of chunks, with pause/resume
 * backpressure. Ends when the remote closed its writing side and everything was read;
 * throws if the stream is reset or aborted.
 *
 * Progress rule (every read from a peer has one): time spent waiting on the peer is paid
 * from a credit of at most IDLE_TIMEOUT, and each byte handed out earns 1/MIN_PEER_RATE s
 * of it back. A peer that stays silent for IDLE_TIMEOUT, or drips slower than
 * MIN_PEER_RATE for long enough to use the credit up, gets PEER_TOO_SLOW and its stream is
 * aborted. Only waits count: a consumer that is slow itself (or paused the stream) costs
 * the peer nothing, and a burst early on cannot buy a long silence later (the cap).
 */
export class StreamInput implements AsyncIterable<Uint8Array> {
  readonly #stream: Stream;
  readonly #queue: Uint8Array[] = [];
  #head = 0;
  #queued = 0;
  #ended = false;
  #pausing = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  /** Bytes handed out so far. */
  received = 0;
  /** Milliseconds of waiting on the peer still allowed (see the progress rule). */
  #credit = IDLE_TIMEOUT;
  #waited = 0;

  constructor(stream: Stream) {
    this.#stream = stream;
    stream.addEventListener('message', (evt) => this.#push(evt.data));
    // A reset also ends the readable side: that is a failure, not the end of the data.
    stream.addEventListener('end', () => {
      if (stream.status === 'reset' || stream.status === 'aborted') this.#fail(new Error(`stream ${stream.status}`));
      else this.#finish();
    });
    stream.addEventListener('close', (evt) => {
      if (evt.error !== undefined) this.#fail(evt.error);
      else if (stream.readBufferLength === 0) this.#finish();
    });
    if (stream.readableEnded) this.#finish();
  }

  #push(data: Uint8Array | Uint8ArrayList): void {
    if (data instanceof Uint8Array) this.#add(data);
    else for (const buf of data) this.#add(buf);
    if (this.#queued > HIGH_WATER && !this.#pausing) {
      // Not from inside this event: resume() dispatches the paused buffer and only then
      // tells yamux to grant window again, which would undo a pause made during dispatch.
      this.#pausing = true;
      queueMicrotask(() => {
        this.#pausing = false;
        if (this.#queued > HIGH_WATER && this.#stream.readStatus === 'readable') this.#stream.pause();
      });
    }
    this.#signal();
  }

  #add(buf: Uint8Array): void {
    if (buf.length === 0) return;
    this.#queue.push(buf);
    this.#queued += buf.length;
  }

  #finish(): void {
    this.#ended = true;
    this.#signal();
  }

  #fail(err: Error): void {
    this.#error ??= new StreamClosedError(err.message, { cause: err });
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#head < this.#queue.length) {
        const buf = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as Uint8Array;
        if (this.#head > 256) {
          this.#queue.splice(0, this.#head);
          this.#head = 0;
        }
        this.#queued -= buf.length;
        this.received += buf.length;
        this.#credit = Math.min(IDLE_TIMEOUT, this.#credit + (buf.length * 1000) / MIN_PEER_RATE);
        // resume() throws on a stream whose readable end closed meanwhile.
        if (this.#queued < LOW_WATER && this.#stream.readStatus === 'paused') this.#stream.resume();
        return buf;
      }
      if (this.#ended) return undefined;
      await this.#waitOnPeer();
    }
  }

  /** Waits for the next event on the stream, paying the wait from the credit. */
  async #waitOnPeer(): Promise<void> {
    const since = performance.now();
    const timer = setTimeout(() => this.#tooSlow(since), Math.max(0, this.#credit));
    try {
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    } finally {
      clearTimeout(timer);
      const waited = performance.now() - since;
      this.#credit -= waited;
      this.#waited += waited;
    }
  }

  #tooSlow(since: number): void {
    const err = new PeerTooSlowError(this.received + this.#queued, this.#waited + performance.now() - since);
    this.#error ??= err;
    this.#stream.abort(err);
    this.#signal();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const value = await this.next();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
    };
  }
}

/** An exact reader over a stream's bytes, with message framing on top. */
export class StreamBytes {
  readonly input: StreamInput;
  readonly reader: ByteReader;

  constructor(stream: Stream) {
    this.input = new StreamInput(stream);
    this.reader = new StreamReader(this.input);
  }

  /** The next length-prefixed message, at most `max` bytes; MESSAGE_TOO_LARGE over it. */
  async readMessage(max: number, what: string): Promise<Uint8Array> {
    return this.#readAfter((await this.reader.read(1))[0]!, max, what);
  }

  /** Like readMessage, but undefined if the stream ends cleanly before the message starts. */
  async readMessageOrEnd(max: number, what: string): Promise<Uint8Array | undefined> {
    let first: Uint8Array;
    try {
      first = await this.reader.read(1);
    } catch (err: unknown) {
      if (err instanceof CastorError && err.code === 'UNEXPECTED_EOF') return undefined;
      throw err;
    }
    return this.#readAfter(first[0]!, max, what);
  }

  async #readAfter(firstByte: number, max: number, what: string): Promise<Uint8Array> {
    let b = firstByte;
    let len = b & 0x7f;
    for (let shift = 7; (b & 0x80) !== 0; shift += 7) {
      if (shift > 28) throw new MalformedMessageError(what, 'length prefix runs over 5 bytes');
      b = (await this.reader.read(1))[0]!;
      len += (b & 0x7f) * 2 ** shift;
    }
    if (len > max) throw new MessageTooLargeError(len, max, what);
    return this.reader.read(len);
  }
}

/** The stream's next 'drain', or its 'close' as an error. */
function drained(stream: Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (evt: Event & { error?: Error }): void => {
      cleanup();
      reject(new StreamClosedError(evt.error?.message ?? 'closed while waiting to send', { cause: evt.error }));
    };
    const cleanup = (): void => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
    };
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
  });
}

/**
 * Sends `bytes`; when the stream says its buffer is full, waits until the muxer has taken
 * the whole queue. Not with `onDrain()`: in libp2p 3.3 it makes one promise per stream
 * and never renews it, so after the first drain it resolves at once and a sender loops
 * with nothing holding it back, the queue (and memory) growing without bound. And not
 * at the first 'drain' either: yamux signals one at every window update, however little
 * of the queue went out. After a 'drain' the stream pushes its queue on in a microtask
 * queued before our continuation, so `writableNeedsDrain` is set again if still blocked.
 */
export async function send(stream: Stream, bytes: Uint8Array | Uint8ArrayList): Promise<void> {
  if (bytes.byteLength === 0) return;
  // The progress rule of StreamInput, for the peer's reading: waits for it to take what
  // we send are paid from a credit of at most IDLE_TIMEOUT that each byte sent earns
  // 1/MIN_PEER_RATE s of; a reader that never drains (or drips) is aborted, its slot freed.
  let credit = Math.min(IDLE_TIMEOUT, (sendCredit.get(stream) ?? IDLE_TIMEOUT) + (bytes.byteLength * 1000) / MIN_PEER_RATE);
  try {
    if (stream.send(bytes)) return;
    while (stream.writableNeedsDrain) {
      if (stream.status !== 'open' && stream.status !== 'closing') throw new StreamClosedError(`stream ${stream.status} while waiting to send`);
      const since = performance.now();
      const timer = setTimeout(() => stream.abort(new PeerTooSlowError(0, performance.now() - since, 'reading')), Math.max(0, credit));
      try {
        await drained(stream);
      } catch (err: unknown) {
        const cause = err instanceof StreamClosedError ? err.cause : undefined;
        if (cause instanceof PeerTooSlowError) throw cause;
        throw err;
      } finally {
        clearTimeout(timer);
        credit -= performance.now() - since;
      }
    }
  } finally {
    sendCredit.set(stream, credit);
  }
}

/** What is left of each stream's credit for waits on the peer's reading (see send). */
const sendCredit = new WeakMap<Stream, number>();

/** Closes our writing side once what we sent is taken, within IDLE_TIMEOUT (close waits for the peer to read it all). */
export async function closeWithin(stream: Stream, ms = IDLE_TIMEOUT): Promise<void> {
  try {
    await stream.close({ signal: AbortSignal.timeout(ms) });
  } catch (err: unknown) {
    const slow = new PeerTooSlowError(0, ms, 'reading', { cause: err });
    stream.abort(slow);
    throw slow;
  }
}

export function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** `msg` with its length prefix, in one buffer (one send, one yamux frame). */
export function framed(msg: Uint8Array): Uint8Array {
  const prefix = varint(msg.length);
  const out = new Uint8Array(prefix.length + msg.length);
  out.set(prefix, 0);
  out.set(msg, prefix.length);
  return out;
}

export async function sendMessage(stream: Stream, msg: Uint8Array): Promise<void> {
  await send(stream, framed(msg));
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Closes our writing side; if even that fails, the stream is aborted (there is nothing else to do with it). */
export async function closeStream(stream: Stream): Promise<void> {
  try {
    await stream.close();
  } catch (err: unknown) {
    stream.abort(asError(err));
  }
}
