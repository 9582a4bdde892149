// A streaming BLAKE3 hash (with outboard nodes) computed on a worker thread: update()
// copies the bytes into pooled 1 MiB buffers that move to the worker and back, so the
// caller's buffer is free once update() resolves and memory stays bounded (the pool is
// shared by every RemoteHasher in the process). One worker, started on first use, kept
// while the process lives but never holding it open while idle.

import { Worker } from 'node:worker_threads';
import { CastorError } from '../errors.js';
import type { TreeHashMessage, TreeHashReply } from './tree-hash-worker.js';

const WORKER_URL = new URL('./tree-hash-worker.js', import.meta.url);
const BUFFER_BYTES = 1 << 20;
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

/** The worker and the buffer pool, shared by every RemoteHasher. */
class TreeHashWorker {
  #worker: Worker | undefined;
  readonly #free: ArrayBuffer[] = [];
  #made = 0;
  #out = 0;
  #bufferWaiters: (() => void)[] = [];
  readonly #results = new Map<number, Waiting>();
  #nextId = 1;

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
    const w = this.#start();
    if (msg.op === 'update') this.#out++;
    this.#hold();
    w.postMessage(msg, msg.op === 'update' ? [msg.buffer] : []);
  }

  result(id: number, groupLog: number | undefined): Promise<RemoteHashResult> {
    return new Promise((resolve, reject) => {
      this.#results.set(id, { resolve, reject });
      this.send({ op: 'finish', id, groupLog });
    });
  }

  /** Keeps the process alive while the worker has buffers or results to send back. */
  #hold(): void {
    if (this.#out > 0 || this.#results.size > 0) this.#worker?.ref();
    else this.#worker?.unref();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_URL);
    w.on('message', (reply: TreeHashReply) => this.#settle(reply));
    const lose = (err: Error): void => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      void w.terminate();
      // Buffers it held are lost with it; the pool makes new ones.
      this.#made -= this.#out;
      this.#out = 0;
      for (const r of this.#results.values()) r.reject(err);
      this.#results.clear();
      for (const wake of this.#bufferWaiters.splice(0)) wake();
    };
    w.on('error', lose);
    w.on('messageerror', lose);
    w.on('exit', (code) => lose(new CastorError('HASH_WORKER', `tree hash worker exited with code ${code}`)));
    this.#worker = w;
    return w;
  }

  #settle(reply: TreeHashReply): void {
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
}

let shared: TreeHashWorker | undefined;

export class RemoteHasher {
  readonly #w = (shared ??= new TreeHashWorker());
  readonly #id = this.#w.newId();
  readonly #groupLog: number | undefined;
  #buf: ArrayBuffer | undefined;
  #fill = 0;
  #done = false;

  constructor(options: { groupLog?: number } = {}) {
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
    this.#w.send({ op: 'drop', id: this.#id });
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
    this.#buf = undefined;
    this.#fill = 0;
  }
}
