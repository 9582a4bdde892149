// The main thread's side of the chunk-staging worker (chunk-stage-worker.ts): one worker
// per process shared by every FsBlobWriter. Chunks are copied into batch buffers (so the
// caller's buffer is free as soon as its write resolves); a full batch, or one flushed at
// the end of a write, is transferred to the worker, which sends the buffer back with the
// results. A fixed set of buffers bounds memory and how far writers run ahead. Plain
// ArrayBuffers moved back and forth, not a SharedArrayBuffer: V8 copies into shared memory
// with relaxed atomics, about 1 GB/s against memcpy's 10. The worker holds the process
// open only while it has work.
//
// Chunks staged without fsync sit in the page cache until something syncs them (the kernel
// starts writeback by itself only past 10% of memory dirty, or after 30 s), so the syncfs
// that ends a batch-mode add waited for all of a big blob (about 0.6 s per 512 MiB here).
// When a writer publishes after staging at least WRITEBACK_AFTER bytes that way, a `sync -f`
// is started in the background first: the disk writes while the chunks are renamed and the
// record written. A hint only, never awaited; durability comes from the writer's or the
// batch's own sync, where a failure shows again. (Starting one every 64 MiB during staging
// instead slowed the staging itself more than it saved: 512 MiB adds, medians of 6 at load
// 7-9, staging 3.9 -> 4.9 s, final sync 0.54 -> 0.09 s.)

import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { PublishReply, PublishRequest, StageBatch, StageReply, StageRequest } from './chunk-stage-worker.js';
import { fsError } from './fs-errors.js';
import { errnoError } from './errno-info.js';
import { startStoreWorker } from './store-worker.js';

const WORKER_URL = new URL('./chunk-stage-worker.js', import.meta.url);
/** Bytes of one batch buffer: a few dozen average chunks, one message each way. */
const BATCH_BYTES = 1 << 20;
/** Batch buffers in all (in the worker's queue, being filled, or free): 3 MiB, kept small for the fetch client's RSS. */
const BATCH_BUFFERS = 3;
/** Bytes staged without fsync since the last publish that make the next one start writeback first. */
const WRITEBACK_AFTER = 32 << 20;
/** Renames per publish message: the worker's other callers wait at most this many renames (a few ms). */
const PUBLISH_BATCH = 256;

export type StageOutcome = 'staged' | 'stored';

export interface StageJob {
  /** The staging file to create. */
  readonly file: string;
  /** Where the chunk lives once published: checked first for dedup. */
  readonly chunkFile: string;
  readonly bytes: Uint8Array;
  /** fsync the staging file before closing it. */
  readonly sync: boolean;
}

interface Pending {
  readonly resolve: (outcome: StageOutcome) => void;
  readonly reject: (err: Error) => void;
}

export class ChunkStager {
  #worker: Worker | undefined;
  /** Pooled batch buffers not in use; made as needed up to BATCH_BUFFERS. */
  readonly #free: ArrayBuffer[] = [];
  #made = 0;
  /** The batch being filled: its buffer, bytes used, jobs. */
  #buf: ArrayBuffer | undefined;
  #fill = 0;
  #queued: StageRequest[] = [];
  #queuedPending: Pending[] = [];
  readonly #batches = new Map<number, Pending[]>();
  readonly #publishes = new Map<number, { resolve: (dirs: string[]) => void; reject: (err: Error) => void }>();
  #nextId = 1;
  #bufferWaiters: (() => void)[] = [];
  /** Bytes sent for staging without fsync since the last writeback started. */
  #unsynced = 0;

  /**
   * Copies the job's bytes into the batch being filled (sending it and waiting for a free
   * buffer if it is full) and queues the job; `flush()` sends it. Resolves once the bytes
   * are copied, to the promise of its outcome (boxed: a promise resolved with a promise
   * would wait for that one too).
   */
  async add(job: StageJob): Promise<{ outcome: Promise<StageOutcome> }> {
    const len = job.bytes.length;
    let request: StageRequest;
    if (len > BATCH_BYTES) {
      // Only with a max chunk size far above the default: a buffer of its own, sent alone.
      this.flush();
      const own = new Uint8Array(len);
      own.set(job.bytes);
      request = { file: job.file, chunkFile: job.chunkFile, at: 0, length: len, sync: job.sync };
      const outcome = this.#queue(request);
      this.#send(own.buffer, false);
      return { outcome };
    }
    // The room check is repeated after every wait: while this caller waited for a buffer,
    // another writer may have taken the returned one and filled part of it.
    for (;;) {
      if (this.#buf !== undefined && this.#fill + len > BATCH_BYTES) this.flush();
      if (this.#buf !== undefined) break;
      const b = this.#free.pop() ?? (this.#made < BATCH_BUFFERS ? (this.#made++, new ArrayBuffer(BATCH_BYTES)) : undefined);
      if (b !== undefined) {
        this.#buf = b;
        this.#fill = 0;
      } else {
        await new Promise<void>((resolve) => this.#bufferWaiters.push(resolve));
      }
    }
    new Uint8Array(this.#buf, this.#fill, len).set(job.bytes);
    request = { file: job.file, chunkFile: job.chunkFile, at: this.#fill, length: len, sync: job.sync };
    this.#fill += len;
    return { outcome: this.#queue(request) };
  }

  /** Sends the batch being filled if it holds at least `bytes`. */
  flushIfAtLeast(bytes: number): void {
    if (this.#fill >= bytes) this.flush();
  }

  /** Sends the batch being filled to the worker. */
  flush(): void {
    if (this.#queued.length === 0) return;
    const buf = this.#buf!;
    this.#buf = undefined;
    this.#send(buf, true);
  }

  /**
   * Renames each staged file to its place (making its shard dir if needed) on the worker,
   * as moveInto would; resolves to the directories whose entries changed, or rejects with
   * the first failure's store error once every batch sent has settled.
   */
  async publish(moves: readonly (readonly [from: string, to: string])[]): Promise<string[]> {
    if (this.#unsynced >= WRITEBACK_AFTER && moves.length > 0) this.#startWriteback(path.dirname(moves[0]![0]));
    const sent: Promise<string[]>[] = [];
    for (let i = 0; i < moves.length; i += PUBLISH_BATCH) {
      const id = this.#nextId++;
      const request: PublishRequest = { op: 'publish', id, moves: moves.slice(i, i + PUBLISH_BATCH) };
      sent.push(new Promise<string[]>((resolve, reject) => {
        this.#publishes.set(id, { resolve, reject });
        const w = this.#start();
        this.#hold();
        w.postMessage(request);
      }));
    }
    const settled = await Promise.allSettled(sent);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return [...new Set(settled.flatMap((r) => (r as PromiseFulfilledResult<string[]>).value))];
  }

  /** Never keeps the process alive: if it exits first, the hint is moot. */
  #startWriteback(dir: string): void {
    this.#unsynced = 0;
    const child = spawn('sync', ['-f', dir], { stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  }

  #queue(request: StageRequest): Promise<StageOutcome> {
    return new Promise<StageOutcome>((resolve, reject) => {
      this.#queued.push(request);
      this.#queuedPending.push({ resolve, reject });
    });
  }

  #send(buffer: ArrayBuffer, pooled: boolean): void {
    const id = this.#nextId++;
    const batch: StageBatch = { id, buffer, pooled, jobs: this.#queued };
    for (const job of batch.jobs) if (!job.sync) this.#unsynced += job.length;
    this.#batches.set(id, this.#queuedPending);
    this.#queued = [];
    this.#queuedPending = [];
    const w = this.#start();
    this.#hold();
    w.postMessage(batch, [buffer]);
  }

  /** Work in flight must keep the process alive, or it could exit with a blob half staged; none must not. */
  #hold(): void {
    if (this.#batches.size > 0 || this.#publishes.size > 0) this.#worker?.ref();
    else this.#worker?.unref();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const w = startStoreWorker<StageReply | PublishReply>(WORKER_URL, 'chunk staging worker', (reply) => {
      if ('op' in reply) this.#published(reply);
      else this.#settle(reply);
    }, (err) => {
      this.#worker = undefined;
      this.#failAll(err);
    });
    this.#worker = w;
    // Held only while it has work (a lone 'drop' to it must not keep the process alive).
    this.#hold();
    return w;
  }

  #settle(reply: StageReply): void {
    const pending = this.#batches.get(reply.id);
    if (!pending) return;
    this.#batches.delete(reply.id);
    if (reply.buffer !== undefined) this.#giveBack(reply.buffer);
    pending.forEach((p, i) => {
      const r = reply.results[i]!;
      if (typeof r === 'string') p.resolve(r);
      else p.reject(errnoError(r));
    });
    this.#hold();
  }

  #published(reply: PublishReply): void {
    const p = this.#publishes.get(reply.id);
    if (!p) return;
    this.#publishes.delete(reply.id);
    if (reply.error) p.reject(fsError(errnoError(reply.error), reply.error.path ?? '', reply.error.syscall === 'mkdir' ? 'creating' : 'publishing'));
    else p.resolve(reply.dirs ?? []);
    this.#hold();
  }

  #giveBack(buffer: ArrayBuffer): void {
    this.#free.push(buffer);
    this.#bufferWaiters.shift()?.();
  }

  /** The worker died: every batch it held fails, and their buffers are made anew as needed. */
  #failAll(err: Error): void {
    for (const pending of this.#batches.values()) for (const p of pending) p.reject(err);
    this.#made -= [...this.#batches.keys()].length;
    this.#batches.clear();
    for (const p of this.#publishes.values()) p.reject(err);
    this.#publishes.clear();
    for (const wake of this.#bufferWaiters.splice(0)) wake();
  }
}

let shared: ChunkStager | undefined;

/** The process's stager, made on first use. */
export function chunkStager(): ChunkStager {
  return (shared ??= new ChunkStager());
}
