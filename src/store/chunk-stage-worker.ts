// Worker thread that stages chunk files for FsBlobWriter with plain synchronous system
// calls: for each chunk, the dedup check (touch and size of chunks/<digest>) or the
// create, write, (fsync) and close of its staging file. On the thread pool these were four
// or five round trips a chunk, each waking a pool thread that then competed with the main
// thread for the machine's two cores; here a batch of chunks is one message each way.
// The bytes come in a buffer transferred with the batch, which goes back with the results.
// The thread also hashes blob trees for the writers' RemoteHashers (messages by `op`).

import { closeSync, fsyncSync, openSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { handleTreeHash, isTreeHashMessage, type TreeHashMessage } from '../verify/blake3/tree-hash-worker.js';

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
export interface StageErrorInfo {
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly path?: string;
}

/** Per job: 'staged' (file written), 'stored' (chunks/ already had it), or what failed. */
export type StageResult = 'staged' | 'stored' | StageErrorInfo;

export interface StageReply {
  readonly id: number;
  readonly results: StageResult[];
  readonly buffer?: ArrayBuffer;
}

function infoOf(err: unknown): StageErrorInfo {
  const e = err as NodeJS.ErrnoException;
  return { message: e?.message ?? String(err), code: e?.code, errno: e?.errno, syscall: e?.syscall, path: e?.path };
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
  try {
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
    return { ...infoOf(err), path: job.chunkFile };
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
    return { ...infoOf(err), path: job.file };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (msg: StageBatch | TreeHashMessage) => {
    // The same thread hashes blobs' trees for RemoteHasher (chunk-stager.ts): one worker's heap, not two.
    if (isTreeHashMessage(msg)) return handleTreeHash(msg, port);
    const results = msg.jobs.map((job) => stage(job, new Uint8Array(msg.buffer, job.at, job.length)));
    if (msg.pooled) port.postMessage({ id: msg.id, results, buffer: msg.buffer } satisfies StageReply, [msg.buffer]);
    else port.postMessage({ id: msg.id, results } satisfies StageReply);
  });
}
