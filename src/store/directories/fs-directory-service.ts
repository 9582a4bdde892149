// FsDirectoryService: Directories in a data dir as their canonical encodings under
// dirs/ab/cdef…, published the way blob records are (write in tmp/, fsync, rename), so
// a reader or a killed process sees a Directory whole or not at all. The base class does
// every check; this file only moves bytes.

import { statSync } from 'node:fs';
import { readFile, rm, utimes } from 'node:fs/promises';
import { moveInto, syncDir, writeSynced } from '../fs/index.js';
import { AbstractDirectoryService } from '../directory-service.js';
import type { Digest } from '../digest.js';
import { fsError, isNotFound, pathExists, ReadOnlyStoreError } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';

export interface FsDirectoryServiceOptions {
  /** fsync before and after publishing. @default true */
  durable?: boolean;
  /** Set when the data dir was found read-only: every put fails with it. */
  readOnly?: Error;
}

const TEMP_PREFIX = 'd-';

export class FsDirectoryService extends AbstractDirectoryService {
  readonly layout: FsLayout;
  readonly #durable: boolean;
  readonly #readOnly: Error | undefined;

  /** `layout.dirs` need not exist yet: the first put creates it. */
  constructor(layout: FsLayout, options: FsDirectoryServiceOptions = {}) {
    super();
    this.layout = layout;
    this.#durable = options.durable ?? true;
    this.#readOnly = options.readOnly;
  }

  protected override async _read(digest: Digest): Promise<Uint8Array | undefined> {
    const file = this.layout.dirPath(digest);
    try {
      return await readFile(file);
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      throw fsError(err, file, 'reading');
    }
  }

  /**
   * Touched rather than stat'ed: gc spares entries modified within its grace period, so a
   * Directory found present here (or a child a put relies on) stays for the put that
   * follows. See src/store/maintenance/gc.ts.
   */
  protected override async _has(digest: Digest): Promise<boolean> {
    const file = this.layout.dirPath(digest);
    // Looked for first: a failing utimes costs an error object with an async stack trace,
    // and a Directory not stored yet is the usual case when adding a tree.
    try {
      if (!statSync(file, { throwIfNoEntry: false })) return false;
    } catch { /* what utimes says below is reported */ }
    try {
      const now = new Date();
      await utimes(file, now, now);
      return true;
    } catch (err: unknown) {
      if (isNotFound(err)) return false;
      // A read-only store cannot be touched, and has no gc running on it either.
      if (fsError(err, file, 'touching') instanceof ReadOnlyStoreError) return pathExists(file);
      throw fsError(err, file, 'touching');
    }
  }

  protected override async _write(digest: Digest, bytes: Uint8Array): Promise<void> {
    if (this.#readOnly) throw this.#readOnly;
    const temp = this.layout.newTempPath(TEMP_PREFIX);
    // Through the thread pool, not synchronously: creating a file or a shard dir can wait on
    // the file system (1.4 ms a create and 0.8 ms a mkdir on this ext4 after many deletes,
    // cpu profile), and the thread putting Directories is also the one walking the tree.
    await writeSynced(temp, bytes, this.#durable);
    try {
      const dirty = await moveInto(temp, this.layout.dirPath(digest));
      if (this.#durable) for (const d of dirty) await syncDir(d);
    } catch (err: unknown) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }
}
