// Worker thread that hashes whole units of an already-open file: it reads by
// descriptor (worker threads share the process fd table) straight into its own
// kernel's memory, so the bytes cross no thread boundary; only the unit chaining
// values (32 bytes per unit) travel back.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { CHUNK_LEN } from './constants.js';
import type { Blake3Kernel } from './kernel.js';
import { createKernel } from './select-kernel.js';
import { hashUnits } from './subtree.js';
import { UnexpectedEofError } from '../errors.js';

export interface HashTask {
  readonly id: number;
  readonly fd: number;
  /** File offset of the first byte: unit-aligned, equal to firstChunk * 1024. */
  readonly position: number;
  /** A whole number of units. */
  readonly length: number;
  readonly firstChunk: number;
  readonly unitLog: number;
  readonly key: Uint32Array;
  readonly flags: number;
}

export interface HashFailure {
  readonly message: string;
  readonly code?: string;
  /** For UNEXPECTED_EOF: where the file ended and how many bytes were still wanted. */
  readonly offset?: number;
  readonly wanted?: number;
}

export type HashReply =
  | { readonly id: number; readonly cvs: Uint32Array }
  | { readonly id: number; readonly error: HashFailure };

/**
 * Read and hash in pieces this big: small enough that a piece is still in the core's
 * L2 cache when the kernel reads it back after the copy from the page cache (4 MiB
 * pieces measured about 10% slower than 256 KiB to 2 MiB ones), and a whole plain-hash unit.
 */
const PIECE_BYTES = 1 << 20;

let kernel: Blake3Kernel | undefined;
let ownBuffer: Uint8Array | undefined;

/** Where a piece is read to: the kernel's own memory when it offers it, so hashing copies nothing. */
function pieceBuffer(k: Blake3Kernel, bytes: number): Uint8Array {
  const view = k.scratch(bytes);
  if (view) return view;
  if (!ownBuffer || ownBuffer.length < bytes) ownBuffer = new Uint8Array(bytes);
  return ownBuffer.subarray(0, bytes);
}

function readFully(fd: number, view: Uint8Array, n: number, position: number): void {
  for (let done = 0; done < n;) {
    const got = readSync(fd, view, done, n - done, position + done);
    // Nothing left although the caller promised more: the file shrank or the size was wrong.
    if (got === 0) throw new UnexpectedEofError(position + done, n - done);
    done += got;
  }
}

function hashTask(task: HashTask): Uint32Array<ArrayBuffer> {
  const k = (kernel ??= createKernel());
  const unitBytes = CHUNK_LEN * 2 ** task.unitLog;
  if (task.length % unitBytes !== 0) throw new RangeError(`task of ${task.length} bytes is not a whole number of ${unitBytes}-byte units`);
  const pieceMax = Math.max(unitBytes, Math.floor(PIECE_BYTES / unitBytes) * unitBytes);
  const buf = pieceBuffer(k, Math.min(pieceMax, task.length));
  const mode = { key: task.key, flags: task.flags };
  const cvs = new Uint32Array((task.length / unitBytes) * 8);
  for (let done = 0; done < task.length;) {
    const n = Math.min(buf.length, task.length - done);
    readFully(task.fd, buf, n, task.position + done);
    hashUnits(k, buf.subarray(0, n), task.firstChunk + done / CHUNK_LEN, task.unitLog, mode, cvs, (done / unitBytes) * 8);
    done += n;
  }
  return cvs;
}

function failureOf(err: unknown): HashFailure {
  if (err instanceof UnexpectedEofError) return { message: err.message, code: err.code, offset: err.offset, wanted: err.value as number };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, code: typeof code === 'string' ? code : undefined };
  }
  return { message: String(err) };
}

const port = parentPort;
if (port) {
  port.on('message', (task: HashTask) => {
    let cvs: Uint32Array<ArrayBuffer>;
    try {
      cvs = hashTask(task);
    } catch (err: unknown) {
      port.postMessage({ id: task.id, error: failureOf(err) } satisfies HashReply);
      return;
    }
    port.postMessage({ id: task.id, cvs } satisfies HashReply, [cvs.buffer]);
  });
}
