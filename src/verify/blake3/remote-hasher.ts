// A streaming BLAKE3 hash (with outboard nodes) computed on a worker thread: update()
// copies the bytes into pooled 1 MiB buffers that move to the worker and back, so the
// caller's buffer is free once update() resolves and memory stays bounded (the pool is
// shared by every RemoteHasher of a channel). The worker is the caller's: it hands its
// messages to handleTreeHash (tree-hash-worker.ts) and the replies to onReply, so one
// thread can hash and do other work, and a process pays for one worker's heap, not two.
// A RemoteHasher made with `onPieces` is fed whole pieces (updatePiece): the worker also
// hashes each piece on its own, and onPieces gets the pieces' bytes and digests back, in
// order, before their buffer is reused (a store's chunks: FsBlobWriter).

import { CastorError } from '../errors.js';
import type { TreeHashMessage, TreeHashReply } from './tree-hash-worker.js';

/** The caller's way to its worker. */
export interface HashChannel {
  post(msg: TreeHashMessage, transfer: ArrayBuffer[]): void;
  /** Whether the worker has hashing work under way (and should keep the process alive). */
  busy(busy: boolean): void;
}
const BUFFER_BYTES = 1 << 20;
/** The largest piece updatePiece takes: one buffer. */
export const PIECE_MAX = BUFFER_BYTES;
/** Buffers in all: bounds how far producers run ahead of the worker (4 MiB). */
const BUFFERS = 4;

export interface RemoteHashResult {
  readonly hash: Uint8Array;
  readonly length: number;
  /** Pre-order parent nodes at the group log asked for (no header). */
  readonly nodes?: Uint8Array;
}

interface Waiting {
  resolve(r: RemoteHashResult): void;
  reject(err: Error): void;
}

/**
 * Pieces hashed by the worker: their bytes (valid only until this returns), their lengths
 * and their digests (32 bytes each), in the order they were given.
 */
export type PiecesHashed = (bytes: Uint8Array, lengths: readonly number[], digests: Uint8Array) => void;

/** The buffer pool and the results awaited, shared by every RemoteHasher of one channel. */
export class HashClient {
  readonly #channel: HashChannel;
  readonly #free: ArrayBuffer[] = [];
  #made = 0;
  #out = 0;
  #bufferWaiters: (() => void)[] = [];
  readonly #results = new Map<number, Waiting>();
  readonly #pieces = new Map<number, PiecesHashed>();
  #nextId = 1;
  /** Counts workers lost: a stream begun on one worker cannot be finished on the next. */
  #generation = 0;

  constructor(channel: HashChannel) {
    this.#channel = channel;
  }

  newId(): number {
    return this.#nextId++;
  }

  get generation(): number {
    return this.#generation;
  }

  /** A free buffer, waiting for one to come back if all are out. */
  async buffer(): Promise<ArrayBuffer> {
    for (;;) {
      const b = this.#free.pop() ?? (this.#made < BUFFERS ? (this.#made++, new ArrayBuffer(BUFFER_BYTES)) : undefined);
      if (b) return b;
      await new Promise<void>((resolve) => this.#bufferWaiters.push(resolve));
    }
  }

  /** A buffer taken and not used. */
  giveBack(buffer: ArrayBuffer): void {
    this.#free.push(buffer);
    this.#bufferWaiters.shift()?.();
  }

  send(msg: TreeHashMessage): void {
    if (msg.op === 'update') this.#out++;
    this.#hold();
    this.#channel.post(msg, msg.op === 'update' ? [msg.buffer] : []);
  }

  result(id: number, groupLog: number | undefined): Promise<RemoteHashResult> {
    return new Promise((resolve, reject) => {
      this.#results.set(id, { resolve, reject });
      this.send({ op: 'finish', id, groupLog });
    });
  }

  /** Where the pieces of stream `id` go once hashed; undefined stops that (their buffers are only reused). */
  onPieces(id: number, handler: PiecesHashed | undefined): void {
    if (handler === undefined) this.#pieces.delete(id);
    else this.#pieces.set(id, handler);
  }

  /** A reply from the worker. */
  onReply(reply: TreeHashReply): void {
    if (reply.op === 'buffer') {
      this.#out--;
      const handler = reply.id === undefined ? undefined : this.#pieces.get(reply.id);
      if (handler !== undefined && reply.pieces !== undefined && reply.digests !== undefined) {
        // A handler that throws has its own way to report it (it must not lose the buffer).
        try { handler(new Uint8Array(reply.buffer, 0, reply.length), reply.pieces, reply.digests); } catch { /* see above */ }
      }
      this.giveBack(reply.buffer);
    } else {
      const r = this.#results.get(reply.id);
      this.#results.delete(reply.id);
      if (reply.op === 'result') r?.resolve({ hash: reply.hash, length: reply.length, nodes: reply.nodes });
      else r?.reject(new CastorError('HASH_WORKER', `tree hash worker: ${reply.message}`));
    }
    this.#hold();
  }

  /** The worker died: the results awaited fail, and the buffers it held are made anew as needed. */
  onLost(err: Error): void {
    this.#generation++;
    this.#made -= this.#out;
    this.#out = 0;
    for (const r of this.#results.values()) r.reject(err);
    this.#results.clear();
    for (const wake of this.#bufferWaiters.splice(0)) wake();
    this.#hold();
  }

  #hold(): void {
    this.#channel.busy(this.#out > 0 || this.#results.size > 0);
  }
}

export class RemoteHasher {
  readonly #w: HashClient;
  readonly #id: number;
  readonly #groupLog: number | undefined;
  /** Set when made with onPieces: the lengths of the pieces in the buffer being filled. */
  #pieces: number[] | undefined;
  #buf: ArrayBuffer | undefined;
  #fill = 0;
  #done = false;
  /** Whether the worker has state for this stream (something was sent). */
  #started = false;
  /** The client's generation when this stream was begun on its worker. */
  #generation = 0;

  constructor(client: HashClient, options: { groupLog?: number; onPieces?: PiecesHashed } = {}) {
    this.#w = client;
    this.#id = client.newId();
    this.#groupLog = options.groupLog;
    if (options.onPieces !== undefined) {
      this.#pieces = [];
      client.onPieces(this.#id, options.onPieces);
    }
  }

  /**
   * Takes a copy of `piece` (at most PIECE_MAX bytes), hashed with the rest of the stream
   * and on its own (see onPieces); the caller may reuse it once this resolves. Only for a
   * hasher made with onPieces; calls must not overlap.
   */
  async updatePiece(piece: Uint8Array): Promise<void> {
    if (this.#done) throw new Error('update after finalize');
    if (this.#pieces === undefined) throw new Error('updatePiece needs a hasher made with onPieces');
    if (piece.length > PIECE_MAX) throw new RangeError(`a piece of ${piece.length} bytes is larger than ${PIECE_MAX}`);
    if (piece.length === 0) return;
    if (this.#fill + piece.length > BUFFER_BYTES) this.#send();
    this.#buf ??= await this.#w.buffer();
    new Uint8Array(this.#buf, this.#fill, piece.length).set(piece);
    this.#fill += piece.length;
    this.#pieces.push(piece.length);
  }

  /** Takes a copy of `data`; the caller may reuse it once this resolves. Calls must not overlap. */
  async update(data: Uint8Array): Promise<void> {
    if (this.#done) throw new Error('update after finalize');
    if (this.#pieces !== undefined) throw new Error('a hasher made with onPieces takes whole pieces (updatePiece)');
    for (let pos = 0; pos < data.length;) {
      this.#buf ??= await this.#w.buffer();
      const n = Math.min(BUFFER_BYTES - this.#fill, data.length - pos);
      new Uint8Array(this.#buf, this.#fill, n).set(data.subarray(pos, pos + n));
      this.#fill += n;
      pos += n;
      if (this.#fill === BUFFER_BYTES) this.#send();
    }
  }

  /**
   * The hash, length and outboard nodes of everything given. With onPieces, every piece has
   * been handed to it when this resolves (the worker answers in order).
   */
  async finalize(): Promise<RemoteHashResult> {
    if (this.#done) throw new Error('finalize called twice');
    this.#done = true;
    this.#send();
    this.#checkWorker();
    try {
      return await this.#w.result(this.#id, this.#groupLog);
    } finally {
      this.#w.onPieces(this.#id, undefined);
    }
  }

  /** Drops the worker's state for a stream that will not be finalized. */
  dispose(): void {
    if (this.#done) return;
    this.#done = true;
    this.#w.onPieces(this.#id, undefined);
    try {
      this.#send();
    } catch {
      return; // its worker is gone, and its state with it
    }
    if (this.#started) this.#w.send({ op: 'drop', id: this.#id });
  }

  /** The worker that has this stream's state is gone: what a new one would answer is wrong. */
  #checkWorker(): void {
    if (this.#started && this.#generation !== this.#w.generation) {
      this.#w.onPieces(this.#id, undefined);
      const buffer = this.#buf;
      this.#buf = undefined;
      this.#fill = 0;
      if (buffer !== undefined) this.#w.giveBack(buffer);
      throw new CastorError('HASH_WORKER', 'tree hash worker: the thread hashing this stream stopped');
    }
  }

  #send(): void {
    this.#checkWorker();
    const buffer = this.#buf;
    if (buffer === undefined) return;
    if (this.#fill === 0) {
      this.#buf = undefined;
      this.#w.giveBack(buffer);
      return;
    }
    const pieces = this.#pieces;
    this.#w.send(pieces === undefined
      ? { op: 'update', id: this.#id, groupLog: this.#groupLog, buffer, length: this.#fill }
      : { op: 'update', id: this.#id, groupLog: this.#groupLog, buffer, length: this.#fill, pieces });
    if (pieces !== undefined) this.#pieces = [];
    if (!this.#started) this.#generation = this.#w.generation;
    this.#started = true;
    this.#buf = undefined;
    this.#fill = 0;
  }
}
