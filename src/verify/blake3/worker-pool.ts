// A few hashing worker threads shared by every caller: started on first use and
// kept for the next call (a worker's start-up and kernel compile cost far more
// than a task), yet never holding the process open while idle.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashFailure, HashReply, HashTask } from './hash-worker.js';
import { CastorError, UnexpectedEofError } from '../errors.js';

export type UnitTask = Omit<HashTask, 'id'>;

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

interface Job {
  readonly id: number;
  readonly task: UnitTask;
  resolve(cvs: Uint32Array): void;
  reject(err: Error): void;
}

interface Slot {
  readonly worker: Worker;
  job?: Job;
}

function errorOf(f: HashFailure): Error {
  if (f.code === 'UNEXPECTED_EOF' && f.offset !== undefined && f.wanted !== undefined) return new UnexpectedEofError(f.offset, f.wanted);
  const err = new Error(`hash worker: ${f.message}`) as Error & { code?: string };
  if (f.code !== undefined) err.code = f.code;
  return err;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker pool size ${size} is not a positive integer`);
  }

  /** Chaining values of the task's units; queued while every worker is busy. */
  run(task: UnitTask): Promise<Uint32Array> {
    if (this.closed) return Promise.reject(new CastorError('POOL_CLOSED', 'the hashing worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new CastorError('POOL_CLOSED', 'the hashing worker pool was closed');
    for (const job of this.queue.splice(0)) job.reject(err);
    const slots = this.slots.splice(0);
    for (const s of slots) s.job?.reject(err);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((s) => s.job === undefined);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      const job = this.queue.shift()!;
      slot.job = job;
      // A pending task must keep the process alive, or it could exit with the hash unfinished.
      slot.worker.ref();
      slot.worker.postMessage({ ...job.task, id: job.id } satisfies HashTask);
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL) };
    slot.worker.unref();
    slot.worker.on('message', (reply: HashReply) => this.settle(slot, reply));
    slot.worker.on('messageerror', (err: Error) => this.lose(slot, err));
    slot.worker.on('error', (err: Error) => this.lose(slot, err));
    slot.worker.on('exit', (code: number) => this.lose(slot, new Error(`hash worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private settle(slot: Slot, reply: HashReply): void {
    const job = slot.job;
    if (!job || job.id !== reply.id) return;
    slot.job = undefined;
    slot.worker.unref();
    if ('cvs' in reply) job.resolve(reply.cvs);
    else job.reject(errorOf(reply.error));
    this.dispatch();
  }

  /** A worker crashed or exited: fail its task, drop it, and let dispatch start a replacement. */
  private lose(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    slot.job?.reject(err);
    slot.job = undefined;
    void slot.worker.terminate();
    this.dispatch();
  }
}

let pool: WorkerPool | undefined;
let sizeOverride: number | undefined;

/** Workers the shared pool runs: set by setWorkerPoolSize, else one per available core. */
export function workerPoolSize(): number {
  return pool?.size ?? sizeOverride ?? availableParallelism();
}

/** Sizes the shared pool from its next start: before first use, or after closeWorkerPool(). */
export function setWorkerPoolSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker pool size ${size} is not a positive integer`);
  sizeOverride = size;
}

export function workerPool(): WorkerPool {
  return (pool ??= new WorkerPool(sizeOverride ?? availableParallelism()));
}

/** Stops the shared pool's workers, failing any task still pending; the next call starts a new pool. */
export async function closeWorkerPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p) await p.close();
}
