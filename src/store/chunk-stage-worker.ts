// Worker thread that stages chunk files for FsBlobWriter with plain synchronous system
// calls: for each chunk, the dedup check (touch and size of chunks/<digest>) or the
// create, write, (fsync) and close of its staging file. On the thread pool these were four
// or five round trips a chunk, each waking a pool thread that then competed with the main
// thread for the machine's two cores; here a batch of chunks is one message each way.
// The bytes come in a buffer transferred with the batch, which goes back with the results.
// The thread also renames a closing writer's staged chunks into chunks/ (a thread-pool
// rename per chunk kept the pool's threads and the main thread busy for the length of a close).

import { closeSync, fsyncSync, openSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { moveIntoSync } from './atomic-write.js';
import { errnoInfo, type ErrnoInfo } from './errno-info.js';

export interface StageRequest {
  readonly file: string;
  readonly chunkFile: string;
  /** Where the bytes are in the batch's buffer. */
  readonly at: number;
  readonly length: number;
  readonly sync: boolean;
}

export interface StageBatch {
  readonly id: number;
  readonly buffer: ArrayBuffer;
  /** Whether the buffer belongs to the sender's pool and is to be sent back. */
  readonly pooled: boolean;
  readonly jobs: readonly StageRequest[];
}

/** What a failed system call said, enough to rebuild a Node errno error on the other side. */
export type StageErrorInfo = ErrnoInfo;

/** Per job: 'staged' (file written), 'stored' (chunks/ already had it), or what failed. */
export type StageResult = 'staged' | 'stored' | StageErrorInfo;

export interface StageReply {
  readonly id: number;
  readonly results: StageResult[];
  readonly buffer?: ArrayBuffer;
}

/** Staged files to rename into place, in order; the first failure ends the batch. */
export interface PublishRequest {
  readonly op: 'publish';
  readonly id: number;
  readonly moves: readonly (readonly [from: string, to: string])[];
}

export interface PublishReply {
  readonly op: 'published';
  readonly id: number;
  /** Directories whose entries changed (to fsync for durability), when every rename was done. */
  readonly dirs?: string[];
  /** What failed, on the path the store error names. */
  readonly error?: StageErrorInfo;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Dedup: a chunk file already there under this digest is kept, touched first so a gc
 * running now sees it as recent (src/store/gc.ts); one of the wrong size is corrupt and
 * gets replaced by this writer's copy. Its bytes are not rehashed: every read verifies them.
 */
function alreadyStored(chunkFile: string, size: number): boolean {
  // The usual case, a chunk not there, costs one stat that reports absence without an
  // exception: a failing utimes built a Node error per chunk (~20 us, a tenth of this
  // thread's time on a new 512 MiB blob). A chunk removed after this stat fails the touch
  // below and is staged like an absent one.
  try {
    if (statSync(chunkFile, { throwIfNoEntry: false }) === undefined) return false;
    const now = new Date();
    utimesSync(chunkFile, now, now);
    return statSync(chunkFile).size === size;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function stage(job: StageRequest, data: Uint8Array): StageResult {
  try {
    if (alreadyStored(job.chunkFile, job.length)) return 'stored';
  } catch (err: unknown) {
    return { ...errnoInfo(err), path: job.chunkFile };
  }
  let fd: number | undefined;
  try {
    fd = openSync(job.file, 'wx', 0o666);
    for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at, at);
    if (job.sync) fsyncSync(fd);
    const done = fd;
    fd = undefined;
    closeSync(done);
    return 'staged';
  } catch (err: unknown) {
    // Nothing half-written is left behind; if this cleanup fails too, cleanTemp has it.
    try { if (fd !== undefined) closeSync(fd); } catch { /* reported below */ }
    try { rmSync(job.file, { force: true }); } catch { /* reported below */ }
    return { ...errnoInfo(err), path: job.file };
  }
}

function publish(msg: PublishRequest): PublishReply {
  const dirs = new Set<string>();
  for (const [from, to] of msg.moves) {
    try {
      for (const d of moveIntoSync(from, to)) dirs.add(d);
    } catch (err: unknown) {
      // moveIntoSync throws a store error: send its system error and path, from which
      // fsError on the other side makes the same store error again.
      const e = err as { cause?: unknown; path?: string };
      return { op: 'published', id: msg.id, error: { ...errnoInfo(e.cause ?? err), path: e.path } };
    }
  }
  return { op: 'published', id: msg.id, dirs: [...dirs] };
}

const port = parentPort;
if (port) {
  port.on('message', (msg: StageBatch | PublishRequest) => {
    if ('op' in msg) return port.postMessage(publish(msg));
    const results = msg.jobs.map((job) => stage(job, new Uint8Array(msg.buffer, job.at, job.length)));
    if (msg.pooled) port.postMessage({ id: msg.id, results, buffer: msg.buffer } satisfies StageReply, [msg.buffer]);
    else port.postMessage({ id: msg.id, results } satisfies StageReply);
  });
}
