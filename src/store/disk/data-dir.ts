// The data dir: where it is (--data-dir, else CASTOR_HOME, else the XDG data home), and
// opening the disk store in it: the blob store and the Directory store side by side.

import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureDir } from '../fs/index.js';
import type { ChunkerOptions } from '../chunking/index.js';
import { FsBlobService } from './fs-blob-service.js';
import { FsDirectoryService } from '../directories/index.js';
import { ReadOnlyStoreError, fsError } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { syncFileSystem } from '../fs/index.js';

/**
 * The data dir to use: `flag` (from --data-dir) if given, else $CASTOR_HOME, else
 * $XDG_DATA_HOME/castor, else ~/.local/share/castor. Resolved to an absolute path.
 */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return path.resolve(flag);
  if (env['CASTOR_HOME']) return path.resolve(env['CASTOR_HOME']);
  const dataHome = env['XDG_DATA_HOME'] || path.join(env['HOME'] || os.homedir(), '.local', 'share');
  return path.resolve(dataHome, 'castor');
}

export interface OpenDataDirOptions {
  /** Create the data dir (and its parents) if it is missing; otherwise that is DATA_DIR_MISSING. @default false */
  create?: boolean;
  /**
   * true: fsync each file and directory as it is published. 'batch': no per-file fsync;
   * the caller calls `DataDir.sync()` once at the end (one syncfs for the whole batch).
   * false: neither (tests). @default true
   */
  durable?: boolean | 'batch';
  /** FastCDC sizes for blobs written from now on. */
  chunker?: ChunkerOptions;
}

/** The disk store in one data dir. */
export interface DataDir {
  readonly layout: FsLayout;
  readonly blobs: FsBlobService;
  readonly directories: FsDirectoryService;
  /** Why writes will fail, when the dir was found read-only; undefined when writable. */
  readonly readOnly: Error | undefined;
  /** Makes everything written so far durable (a no-op unless opened with durable: 'batch'). */
  sync(): Promise<void>;
}

export async function openDataDir(dir: string, options: OpenDataDirOptions = {}): Promise<DataDir> {
  const root = path.resolve(dir);
  if (options.create) {
    try {
      await mkdir(root, { recursive: true });
    } catch (err: unknown) {
      throw fsError(err, root, 'creating');
    }
  }
  const durable = options.durable === undefined ? true : options.durable === true;
  const blobs = await FsBlobService.open(root, { durable, chunker: options.chunker });
  const layout = blobs.layout;
  let readOnly: Error | undefined;
  for (const d of [layout.dirs, layout.pins]) {
    try {
      await ensureDir(d);
    } catch (err: unknown) {
      if (!(err instanceof ReadOnlyStoreError)) throw err;
      readOnly ??= err;
    }
  }
  // mkdir of a dir that exists says EEXIST even on a read-only mount: ask the kernel directly.
  if (readOnly === undefined) {
    try {
      await access(layout.tmp, constants.W_OK);
    } catch (err: unknown) {
      const e = fsError(err, layout.tmp, 'checking');
      if (!(e instanceof ReadOnlyStoreError)) throw e;
      readOnly = e;
    }
  }
  const directories = new FsDirectoryService(layout, { durable, readOnly });
  const batch = options.durable === 'batch';
  return { layout, blobs, directories, readOnly, sync: () => (batch ? syncFileSystem(root) : Promise.resolve()) };
}
