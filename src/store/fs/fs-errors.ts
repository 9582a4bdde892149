// Typed errors for a store kept in a data directory: each names the path it failed on
// and keeps the system error as `cause`, so a user can tell a full disk from a bad mount.

import { lstat } from 'node:fs/promises';
import { CastorError } from '../../verify/index.js';

/** The data dir is not there (or is not a directory). */
export class DataDirMissingError extends CastorError {
  constructor(readonly path: string, detail = 'does not exist', options?: { cause?: unknown }) {
    super('DATA_DIR_MISSING', `data dir ${path} ${detail}`, path, options);
  }
}

/** The store may be read but not written: read-only mount or no permission. */
export class ReadOnlyStoreError extends CastorError {
  constructor(readonly path: string, options?: { cause?: unknown }) {
    const errno = errnoOf(options?.cause);
    const why = errno === 'EROFS' ? 'the file system is mounted read-only' : 'permission denied';
    super('READ_ONLY', `cannot write ${path}: ${why} (${errno ?? 'read-only'})`, path, options);
  }
}

/** The device (or the user's quota) is full. */
export class DiskFullError extends CastorError {
  constructor(readonly path: string, options?: { cause?: unknown }) {
    super('DISK_FULL', `cannot write ${path}: no space left on the device (${errnoOf(options?.cause) ?? 'ENOSPC'})`, path, options);
  }
}

/** Any other I/O failure, with the system error code in the message. */
export class StoreIoError extends CastorError {
  constructor(readonly path: string, action: string, options?: { cause?: unknown }) {
    super('STORE_IO', `${action} ${path} failed: ${errnoOf(options?.cause) ?? String(options?.cause)}`, path, options);
  }
}

export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** Whether `file` exists (not following a final symlink); other failures are store errors. */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw fsError(err, file, 'checking');
  }
}

export function isNotFound(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A system error from `action` on `path` as the store error a caller can act on. */
export function fsError(err: unknown, path: string, action: string): Error {
  if (err instanceof CastorError) return err;
  switch (errnoOf(err)) {
    case 'EACCES': case 'EPERM': case 'EROFS':
      return new ReadOnlyStoreError(path, { cause: err });
    case 'ENOSPC': case 'EDQUOT':
      return new DiskFullError(path, { cause: err });
    default:
      return new StoreIoError(path, action, { cause: err });
  }
}
