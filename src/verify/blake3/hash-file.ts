// BLAKE3 (and the outboard nodes) of an already-open file on several cores.
// Unit chaining values do not depend on each other, so the units before the last
// are hashed by pool workers that read the file themselves; only their 32-byte
// values come back, and are pushed in file order. The last unit, which decides
// the root, is read and hashed here.

import { read } from 'node:fs';
import { CHUNK_LEN, OUT_LEN } from './constants.js';
import { Hasher, type HashResult } from './hasher.js';
import { defaultKernel } from './kernel-instance.js';
import { HASH_MODE, type Mode } from './mode.js';
import { subtreeOutput } from './subtree.js';
import { ListSink } from './tree-sinks.js';
import { workerPool, workerPoolSize, type UnitTask, type WorkerPool } from './worker-pool.js';
import { InvalidInputError, UnexpectedEofError } from '../errors.js';

export interface HashFileOptions {
  mode?: Mode;
  /** Also lay out the outboard's parent nodes for groups of 2^groupLog chunks. */
  groupLog?: number;
  /** Cores to use; 1 hashes in the calling thread. Defaults to the pool size (one per core). */
  threads?: number;
  /** Called as hashing advances, with the bytes hashed so far (in file order), last with the size. */
  onProgress?: (bytesDone: number) => void;
}

/** Below this, starting on workers costs more than it saves. */
const PARALLEL_MIN = 4 << 20;
/** Work per task: long enough to hide the dispatch round trip, short enough to balance cores. */
const TASK_BYTES = 8 << 20;
/** Unit of a plain hash, as in Hasher: 1 MiB subtrees. */
const HASH_UNIT_LOG = 10;
/** Reads in the calling thread. */
const READ_BYTES = 1 << 20;

function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

async function readFully(fd: number, buf: Uint8Array, n: number, position: number): Promise<Uint8Array> {
  for (let done = 0; done < n;) {
    const got = await readAt(fd, buf, done, n - done, position + done);
    if (got === 0) throw new UnexpectedEofError(position + done, n - done);
    done += got;
  }
  return buf.subarray(0, n);
}

export async function hashFile(fd: number, size: number, options: HashFileOptions = {}): Promise<HashResult> {
  if (!Number.isInteger(fd) || fd < 0) throw new InvalidInputError(`file descriptor ${fd} is not a non-negative integer`, fd);
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidInputError(`size ${size} is not a non-negative integer`, size);
  const g = options.groupLog;
  if (g !== undefined && (!Number.isInteger(g) || g < 0 || g > 8)) throw new RangeError(`group log ${g} is not in 0..8`);
  const threads = options.threads ?? workerPoolSize();
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidInputError(`threads ${threads} is not a positive integer`, threads);
  if (threads === 1 || size < PARALLEL_MIN) return hashHere(fd, size, options);
  return hashOnWorkers(fd, size, threads, options);
}

/** Sequential reads into a Hasher; the next read runs (on libuv's pool) while this piece is hashed. */
async function hashHere(fd: number, size: number, options: HashFileOptions): Promise<HashResult> {
  const h = new Hasher({ mode: options.mode, groupLog: options.groupLog });
  const bufs = [new Uint8Array(Math.min(READ_BYTES, size)), new Uint8Array(Math.min(READ_BYTES, size))];
  const readPiece = (pos: number, i: number): Promise<Uint8Array> => readFully(fd, bufs[i & 1]!, Math.min(READ_BYTES, size - pos), pos);
  let pending = size > 0 ? readPiece(0, 0) : undefined;
  for (let pos = 0, i = 0; pending; i++) {
    const piece = await pending;
    pos += piece.length;
    pending = pos < size ? readPiece(pos, i + 1) : undefined;
    // An unawaited read that fails while this piece is hashed must not count as unhandled.
    pending?.catch(() => undefined);
    h.update(piece);
    options.onProgress?.(pos);
  }
  if (size === 0) options.onProgress?.(0);
  return h.finalize();
}

async function hashOnWorkers(fd: number, size: number, threads: number, options: HashFileOptions): Promise<HashResult> {
  const mode = options.mode ?? HASH_MODE;
  const unitLog = options.groupLog ?? HASH_UNIT_LOG;
  const unitBytes = CHUNK_LEN * 2 ** unitLog;
  const units = Math.max(1, Math.ceil(size / unitBytes));
  const bodyBytes = (units - 1) * unitBytes;
  const kernel = defaultKernel();
  const sink = new ListSink(kernel, mode, options.groupLog !== undefined);
  const base = { fd, unitLog, key: mode.key, flags: mode.flags };
  const [body, last] = await Promise.allSettled([
    runInOrder(workerPool(), planTasks(bodyBytes, unitBytes, base), threads, (cvs, end) => {
      sink.push(cvs, 0, cvs.length / 8);
      options.onProgress?.(end);
    }),
    readFully(fd, new Uint8Array(size - bodyBytes), size - bodyBytes, bodyBytes),
  ]);
  // Both settle first: once this returns the caller may close the fd, and no worker may still be reading it.
  if (body.status === 'rejected') throw body.reason;
  if (last.status === 'rejected') throw last.reason;
  const tree = sink.finish(subtreeOutput(kernel, last.value, bodyBytes / CHUNK_LEN, mode));
  options.onProgress?.(size);
  return { hash: tree.root.rootBytes(OUT_LEN), output: tree.root, length: size, nodes: tree.nodes };
}

function planTasks(bodyBytes: number, unitBytes: number, base: Pick<UnitTask, 'fd' | 'unitLog' | 'key' | 'flags'>): UnitTask[] {
  const step = Math.max(unitBytes, Math.floor(TASK_BYTES / unitBytes) * unitBytes);
  const tasks: UnitTask[] = [];
  for (let pos = 0; pos < bodyBytes; pos += step) {
    tasks.push({ ...base, position: pos, length: Math.min(step, bodyBytes - pos), firstChunk: pos / CHUNK_LEN });
  }
  return tasks;
}

/**
 * Runs tasks with at most `threads` on workers, and hands results to `take` in task
 * order. Finished tasks wait for earlier ones only within a window of 2 * threads, so
 * memory stays bounded however large the file. Settles only when no task is running.
 */
function runInOrder(pool: WorkerPool, tasks: UnitTask[], threads: number, take: (cvs: Uint32Array, end: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = new Map<number, Uint32Array>();
    const window = 2 * threads;
    let next = 0;
    let taken = 0;
    let running = 0;
    let failure: { err: unknown } | undefined;
    const advance = (): void => {
      try {
        for (let cvs = done.get(taken); !failure && cvs; cvs = done.get(taken)) {
          done.delete(taken);
          const t = tasks[taken++]!;
          take(cvs, t.position + t.length);
        }
      } catch (err: unknown) {
        failure ??= { err };
      }
      if (failure) {
        if (running === 0) reject(failure.err);
        return;
      }
      if (taken === tasks.length) {
        resolve();
        return;
      }
      while (running < threads && next < tasks.length && next - taken < window) start(next++);
    };
    const start = (i: number): void => {
      running++;
      pool.run(tasks[i]!).then(
        (cvs) => { running--; done.set(i, cvs); advance(); },
        (err: unknown) => { running--; failure ??= { err }; advance(); },
      );
    };
    advance();
  });
}
