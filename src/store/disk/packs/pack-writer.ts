// Appends chunks (small blobs among them) to this thread's pack in packs/ (pack-format.ts).
// One writer per thread and data dir, each with a pack of its own, so appends never
// interleave. An entry is one positional write of its header and bytes; a write cut short
// (disk full) is cut off again, so the pack never holds a torn entry while its writer
// lives. A pack is sealed (its index written) when it reaches PACK_ROTATE_BYTES, when gc
// asks (sealPacks), and at exit; a writer never appends to a pack once it is sealed, which
// is what lets gc rewrite sealed packs.

import { close, closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { DataDirMissingError, errnoOf, fsError } from '../../fs/index.js';
import type { FsLayout } from '../../fs/index.js';
import { encodeEntryHead, encodeIndex2, ENTRY_HEAD, PACK_MAGIC, type PackEntry } from './pack-format.js';
import { indexPathOf, PACK_SUFFIX, packIndex } from './pack-index.js';

/** A pack is sealed and a new one begun past this size, so gc can reclaim space in bounded pieces. */
export const PACK_ROTATE_BYTES = 64 << 20;

class PackWriter {
  readonly #layout: FsLayout;
  #fd: number | undefined;
  #path = '';
  #end = 0;
  #written: { digest: Uint8Array; offset: number; size: number }[] = [];
  /** Appended with durability 'later' since the last fsync: synced by syncPending, or before the pack is sealed. */
  #pending = false;
  /**
   * The first failed fsync, kept: Linux reports a writeback error once per fd, so an fsync
   * retried after one can succeed over bytes that never reached the disk. Every later
   * syncPending fails with it (writes that ask for no durability go on).
   */
  #syncFailure: Error | undefined;

  constructor(layout: FsLayout) {
    this.#layout = layout;
  }

  /**
   * Appends chunk `digest` (hex `hex`) holding `bytes`. `durable` true fsyncs the pack before
   * returning; 'later' leaves that to syncPending() (one fsync for all of a blob's chunks),
   * or to the seal when the pack rotates first.
   */
  append(digest: Uint8Array, hex: string, bytes: Uint8Array, durable: boolean | 'later'): PackEntry {
    if (this.#fd === undefined || this.#end >= PACK_ROTATE_BYTES) this.#begin(durable !== false);
    const fd = this.#fd!;
    const at = this.#end;
    const total = ENTRY_HEAD + bytes.length;
    try {
      let n = writevSync(fd, [encodeEntryHead(digest, bytes.length), bytes], at);
      // A short write: the rest of it, in the rare case the kernel stopped part way.
      while (n < total) {
        const head = n < ENTRY_HEAD ? encodeEntryHead(digest, bytes.length).subarray(n) : undefined;
        const w = head ? writeSync(fd, head, 0, head.length, at + n) : writeSync(fd, bytes, n - ENTRY_HEAD, total - n, at + n);
        if (w === 0) throw Object.assign(new Error('no progress writing the pack'), { code: 'EIO' });
        n += w;
      }
      if (durable === true) fsyncSync(fd);
      else if (durable === 'later') this.#pending = true;
    } catch (err: unknown) {
      try { ftruncateSync(fd, at); } catch { /* a torn tail is not counted by any reader */ }
      throw fsError(err, this.#path, 'writing');
    }
    this.#end = at + total;
    const entry = { pack: this.#path, offset: at + ENTRY_HEAD, size: bytes.length };
    this.#written.push({ digest: digest.slice(), offset: entry.offset, size: entry.size });
    packIndex(this.#layout).add(hex, entry);
    return entry;
  }

  /** Makes durable what was appended with durability 'later' (see append). */
  syncPending(): void {
    if (this.#syncFailure !== undefined) throw this.#syncFailure;
    if (!this.#pending || this.#fd === undefined) return;
    try {
      fsyncSync(this.#fd);
    } catch (err: unknown) {
      this.#syncFailure = fsError(err, this.#path, 'writing');
      throw this.#syncFailure;
    }
    this.#pending = false;
  }

  /**
   * Makes entry bytes in `pack` durable for a durable writer that found its chunk there
   * (dedup): this thread's open pack is synced with the rest of the writer's chunks
   * (syncPending); any other pack, written by another thread or process that may not have
   * synced it yet, is fsynced now.
   */
  syncFor(pack: string): void {
    if (pack === this.#path && this.#fd !== undefined) {
      this.#pending = true;
      return;
    }
    let fd: number;
    try {
      fd = openSync(pack, 'r');
    } catch (err: unknown) {
      throw fsError(err, pack, 'opening');
    }
    try {
      fsyncSync(fd);
    } catch (err: unknown) {
      throw fsError(err, pack, 'writing');
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the index of the current pack and closes it; the next append begins a new pack. */
  seal(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    // A pending fsync must happen before the fd is gone. Its failure is the caller's (an
    // append rotating the pack, whose blob then fails) and stays (see #syncFailure); the
    // pack is sealed all the same, a new one begun for writes that ask no durability.
    let failure: unknown;
    try {
      this.syncPending();
    } catch (err: unknown) {
      failure = err;
    }
    this.#pending = false;
    this.#fd = undefined;
    const full = this.#end >= PACK_ROTATE_BYTES;
    try {
      writePackIndex(this.#layout, this.#path, this.#written, this.#end);
    } finally {
      this.#written = [];
      if (full && !exiting && failure === undefined) writeBackThenClose(fd);
      else closeSync(fd);
    }
    if (failure !== undefined) throw failure;
  }

  #begin(durable: boolean): void {
    this.seal();
    try {
      // Not recursive: a data dir removed under a running store must not be made again here.
      mkdirSync(this.#layout.packs);
    } catch (err: unknown) {
      const code = errnoOf(err);
      if (code === 'ENOENT') throw new DataDirMissingError(this.#layout.root, 'is gone (removed while open?)', { cause: err });
      if (code !== 'EEXIST') throw fsError(err, this.#layout.packs, 'creating');
    }
    const name = `${this.#layout.packs}/${process.pid}-${threadId}-${randomBytes(6).toString('hex')}${PACK_SUFFIX}`;
    let fd: number;
    try {
      fd = openSync(name, 'wx');
      writeSync(fd, PACK_MAGIC, 0, PACK_MAGIC.length, 0);
      if (durable) {
        fsyncSync(fd);
        syncDir(this.#layout.packs);
      }
    } catch (err: unknown) {
      throw fsError(err, name, 'creating');
    }
    this.#fd = fd;
    this.#path = name;
    this.#end = PACK_MAGIC.length;
  }
}

/**
 * Writes the index of `pack` (its `entries`, covering its first `covered` bytes) beside it,
 * through a temp file in tmp/. Best effort: without its index a pack is scanned by whoever
 * reads it, slower, not wrong.
 */
export function writePackIndex(layout: FsLayout, pack: string, entries: readonly { digest: Uint8Array; offset: number; size: number }[], covered: number): void {
  const temp = layout.newTempPath('i-');
  try {
    const ifd = openSync(temp, 'wx');
    try {
      const bytes = encodeIndex2(covered, entries);
      for (let at = 0; at < bytes.length;) at += writeSync(ifd, bytes, at, bytes.length - at, at);
    } finally {
      closeSync(ifd);
    }
    renameSync(temp, indexPathOf(pack));
  } catch {
    try { unlinkSync(temp); } catch { /* gone, or left for cleanTemp */ }
  }
}

/**
 * A full pack's bytes written to disk in the background on the thread pool, then its fd
 * closed: whatever makes the blob durable later (its writer's fsync, or an add's one
 * syncfs at the end) then finds them written instead of writing 1 GiB after the last
 * chunk. A hint only: a failure shows again where durability is asked for.
 */
function writeBackThenClose(fd: number): void {
  fdatasync(fd, () => close(fd, () => undefined));
}

let exiting = false;

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

const writers = new Map<string, PackWriter>();

/** This thread's writer for the data dir laid out by `layout`. */
export function packWriter(layout: FsLayout): PackWriter {
  let w = writers.get(layout.packs);
  if (w === undefined) {
    if (writers.size === 0) {
      process.once('exit', () => {
        exiting = true;
        sealPacks();
      });
    }
    w = new PackWriter(layout);
    writers.set(layout.packs, w);
  }
  return w;
}

/** Seals this thread's packs (see the file comment): at exit, and before gc looks at packs. */
export function sealPacks(): void {
  for (const w of writers.values()) {
    try {
      w.seal();
    } catch {
      // Its pending fsync failed (the blob that asked for it failed with that already): left unsealed, readers scan it.
    }
  }
}

export type { PackWriter };
