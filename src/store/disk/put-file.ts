// One small file read whole and stored in one step (putBytesSync), as the same plain
// function on the main thread and on put-file-pool's worker. The file is opened first and
// judged by fstat (no separate lstat, which on ingest's path was a thread-pool round trip a
// file): a file that turns out large, or no longer a regular file (replaced since it was
// listed; O_NOFOLLOW refuses a symlink, O_NONBLOCK a FIFO's wait), is handed back to the
// caller undone, and one that cannot be read is an outcome the caller names the path for.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CastorError } from '../../verify/index.js';
import { errnoInfo, type ErrnoInfo } from '../util/index.js';
import type { ChunkerOptions } from '../chunking/index.js';
import { FsLayout } from '../fs/index.js';
import { putBytesSync, type Appended } from './fs-put-bytes.js';

export interface PutFileConfig {
  readonly root: string;
  readonly chunker: ChunkerOptions;
  readonly durable: boolean;
}

export type PutFileOutcome =
  | { readonly digest: Uint8Array; readonly newBytes: number; readonly size: number; readonly mode: number; readonly appended?: readonly Appended[] }
  /** Larger than the limit: not read, for the caller to stream. */
  | { readonly large: { readonly size: number; readonly mode: number } }
  /** Not a regular file (any more): for the caller to look at again. */
  | { readonly notRegular: true }
  /** The file could not be read (gone, no permission): nothing stored. */
  | { readonly unreadable: ErrnoInfo }
  /** Storing failed: the system error under the store error, and the path it was on. */
  | { readonly failed: ErrnoInfo; readonly path: string };

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Files up to this size are read whole and put in one step; larger ones are streamed. */
export const PUT_FILE_LIMIT = 1 << 20;

/** `staging`: this thread's dir in tmp/ for temp files (see put-file-pool.ts). */
export function putFileSync(layout: FsLayout, cfg: PutFileConfig, file: Uint8Array, staging: string): PutFileOutcome {
  let fd: number;
  try {
    fd = openSync(file as Buffer, OPEN_FLAGS);
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'ELOOP' ? { notRegular: true } : { unreadable: errnoInfo(err) };
  }
  let bytes: Buffer;
  let mode: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { notRegular: true };
    mode = st.mode;
    const read = st.size > PUT_FILE_LIMIT ? undefined : readAll(fd, st.size);
    if (read === undefined) return { large: { size: st.size, mode } };
    bytes = read;
  } catch (err: unknown) {
    return { unreadable: errnoInfo(err) };
  } finally {
    closeSync(fd);
  }
  try {
    const { digest, newBytes, appended } = putBytesSync(layout, cfg.chunker, bytes, cfg.durable, staging);
    return appended?.length ? { digest, newBytes, size: bytes.length, mode, appended } : { digest, newBytes, size: bytes.length, mode };
  } catch (err: unknown) {
    const path = err instanceof CastorError && typeof err.value === 'string' ? err.value : layout.root;
    return { failed: errnoInfo(err instanceof CastorError ? err.cause ?? err : err), path };
  }
}

/** This thread's read buffer, reused for every file: see readAll. */
let scratch: Buffer | undefined;

/**
 * The file's content, expected to be `size` bytes, as a view of this thread's read buffer,
 * valid until the next call (putFileSync stores it before returning; a fresh buffer per
 * file was an ArrayBuffer to make and sweep each time). One byte more is asked for, so a
 * file read whole ends on a short read that stops at the size fstat gave, with no read of
 * 0 bytes after it (a tenth of the system calls of a small file). Any other short read is
 * read on from (a file system may return less than asked anywhere), as is a file that
 * grew; one that grew past the limit since fstat is left for the caller to stream (undefined).
 */
function readAll(fd: number, size: number): Buffer | undefined {
  const buf = (scratch ??= Buffer.allocUnsafeSlow(PUT_FILE_LIMIT + 1));
  let got = 0;
  let end = size + 1;
  for (;;) {
    const ask = end - got;
    const n = readSync(fd, buf, got, ask, null);
    if (n === 0) return buf.subarray(0, got);
    got += n;
    if (n < ask && got === size) return buf.subarray(0, got);
    if (got > PUT_FILE_LIMIT) return undefined;
    if (got === end) end = Math.min(end * 2, PUT_FILE_LIMIT + 1);
  }
}
