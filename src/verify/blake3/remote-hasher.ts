// A streaming BLAKE3 hash (with outboard nodes) computed on a worker thread: update()
// copies the bytes into pooled 1 MiB buffers that move to the worker and back, so the
// caller's buffer is free once update() resolves and memory stays bounded (the pool is
// shared by every RemoteHasher of a channel). The worker is the caller's: it hands its
// messages to handleTreeHash (tree-hash-worker.ts) and the replies to onReply, so one
// thread can hash and do other work, and a process pays for one worker's heap, not two.

import { CastorError } from '../errors.js';
import type { TreeHashMessage, TreeHashReply } from './tree-hash-worker.js';

/** The caller's way to its worker. */
export interface HashChannel {
  post(msg: TreeHashMessage, transfer: ArrayBuffer[]): void;
  /** Whether the worker has hashing work under way (and should keep the process alive). */
  busy(busy: boolean): void;
}
const BUFFER_BYTES = 1 << 20;
/** Buffers in all: bounds how far producers run ahead of the worker (2 MiB). */
const BUFFERS = 2;

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

/** The buffer pool and the results awaited, shared by every RemoteHasher of one channel. */
export class HashClient {
  readonly #channel: HashChannel;
  readonly #free: ArrayBuffer[] = [];
  #made = 0;
  #out = 0;
  #bufferWaiters: (() => void)[] = [];
  readonly #results = new Map<number, Waiting>();
  #nextId = 1;

  constructor(channel: HashChannel) {
    this.#channel = channel;
  }

  newId(): number {
    return this.#nextId++;
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

  /** A reply from the worker. */
  onReply(reply: TreeHashReply): void {
    if (reply.op === 'buffer') {
      this.#out--;
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
  #buf: ArrayBuffer | undefined;
  #fill = 0;
  #done = false;
  /** Whether the worker has state for this stream (something was sent). */
  #started = false;

  constructor(client: HashClient, options: { groupLog?: number } = {}) {
    this.#w = client;
    this.#id = client.newId();
    this.#groupLog = options.groupLog;
  }

  /** Takes a copy of `data`; the caller may reuse it once this resolves. Calls must not overlap. */
  async update(data: Uint8Array): Promise<void> {
    if (this.#done) throw new Error('update after finalize');
    for (let pos = 0; pos < data.length;) {
      this.#buf ??= await this.#w.buffer();
      const n = Math.min(BUFFER_BYTES - this.#fill, data.length - pos);
      new Uint8Array(this.#buf, this.#fill, n).set(data.subarray(pos, pos + n));
      this.#fill += n;
      pos += n;
      if (this.#fill === BUFFER_BYTES) this.#send();
    }
  }

  /** The hash, length and outboard nodes of everything given. */
  finalize(): Promise<RemoteHashResult> {
    if (this.#done) return Promise.reject(new Error('finalize called twice'));
    this.#done = true;
    this.#send();
    return this.#w.result(this.#id, this.#groupLog);
  }

  /** Drops the worker's state for a stream that will not be finalized. */
  dispose(): void {
    if (this.#done) return;
    this.#done = true;
    this.#send();
    if (this.#started) this.#w.send({ op: 'drop', id: this.#id });
  }

  #send(): void {
    const buffer = this.#buf;
    if (buffer === undefined) return;
    if (this.#fill === 0) {
      this.#buf = undefined;
      this.#w.giveBack(buffer);
      return;
    }
    this.#w.send({ op: 'update', id: this.#id, groupLog: this.#groupLog, buffer, length: this.#fill });
    this.#started = true;
    this.#buf = undefined;
    this.#fill = 0;
  }
}
