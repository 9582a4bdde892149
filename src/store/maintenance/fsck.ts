// fsck: re-verifies everything in a data dir and moves what fails into quarantine/, so the
// store stays consistent (no visible record naming a missing chunk, Directories closed
// under references) and nothing is deleted; then cleans what killed writers left in tmp/.
//
// Order: the entries of packs first (every chunk written since chunks are packed, and the
// small blobs kept with no record, pack-format.ts), each hashed once; then blob records,
// each read in full through the verifier, which hashes every chunk it loads that the packs
// did not vouch for; then the chunk files (older stores) no record read, then Directories
// and their closure. A record is quarantined before a chunk file that sank it, so a crash
// in between leaves at worst an orphan bad chunk, which the next run finds.
//
// A bad pack entry is reported as a bad chunk; its bytes are copied into quarantine/ (where
// a chunk file of that name would go) and, when no writer will append to the pack again,
// the pack is rewritten without it (pack-rewrite.ts) and the old one removed. A pack a live
// writer may still append to is only reported. A torn tail (a writer killed mid-append) is
// no entry to any reader, so it is not reported either.

import { lstat, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CastorError, InvalidInputError } from '../../verify/index.js';
import { ChunkBook } from './chunk-check.js';
import type { DataDir } from '../disk/index.js';
import { showName } from '../castore/index.js';
import { formatDigest, parseDigest, type Digest } from '../digest.js';
import { DigestSet } from '../util/index.js';
import { errnoOf, fsError, isNotFound, pathExists } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { checkBlob, type BlobFault } from './fsck-blob.js';
import { forEachConcurrent, WALK_CONCURRENCY } from '../util/index.js';
import { createKernel } from '../../verify/index.js';
import type { Blake3Kernel } from '../../verify/index.js';
import { checkDirectories, type DirFault } from './fsck-dirs.js';
import { oneGroupBlobSize } from '../disk/index.js';
import { listPins } from './pins.js';
import { quarantine } from './quarantine.js';
import type { ScannedEntry } from '../disk/index.js';
import { listPacks, packIndex, readPackView, type PackView } from '../disk/index.js';
import { packRewritable, removeIndexOf, rewritePack, verifyPackEntries, type EntryCheck } from '../disk/index.js';
import { sealPacks } from '../disk/index.js';
import { shardEntries, type ShardEntry } from '../fs/index.js';

export const DEFAULT_TMP_AGE_MS = 60 * 60 * 1000;

/** Something wrong with a stored entry; it counts against consistency. */
export interface FsckProblem {
  readonly kind: 'blob' | 'chunk' | 'directory' | 'stray';
  /** Hex digest of the entry (absent for strays). */
  readonly digest?: string;
  /** Where it was, relative to the data dir. */
  readonly path: string;
  /** CORRUPT_RECORD, CORRUPT_CHUNK, MISSING_CHUNK, HASH_MISMATCH, INVALID_DIRECTORY, NOT_CANONICAL, UNREADABLE, MISSING_CHILD, SIZE_MISMATCH, STRAY. */
  readonly code: string;
  readonly detail: string;
  /** Where it was moved, relative to the data dir; undefined on a dry run (or if it vanished meanwhile). */
  readonly quarantined?: string;
}

/** A tmp/ entry old enough to be a killed writer's leftover. */
export interface FsckTmpLeftover {
  readonly path: string;
  readonly ageMs: number;
  readonly removed: boolean;
}

/** Worth knowing, not an inconsistency: a tree or pin whose content is (no longer) all here. */
export interface FsckNote {
  /** What `digest` names: a Directory with a file whose blob is absent, or a pin. */
  readonly kind: 'directory' | 'pin';
  readonly digest: string;
  readonly detail: string;
}

export interface FsckOptions {
  /** tmp/ entries untouched for this long are removed. @default one hour */
  tmpAgeMs?: number;
  /** Report only: quarantine nothing, remove nothing. A read-only data dir is always checked this way. @default false */
  dryRun?: boolean;
  onProblem?: (p: FsckProblem) => void;
  onTmp?: (t: FsckTmpLeftover) => void;
  onNote?: (n: FsckNote) => void;
  /** When given, the stored bytes are added up first (one lstat per entry) for a progress total. */
  progress?: { start(totalBytes: number): void; update(doneBytes: number): void; finish(): void };
}

export interface FsckSummary {
  /** No problem found (tmp leftovers and notes do not count). */
  readonly consistent: boolean;
  readonly checked: { blobs: number; chunks: number; directories: number };
  readonly bad: { blobs: number; chunks: number; directories: number; stray: number };
  readonly quarantined: number;
  readonly tmpRemoved: number;
  /** tmp/ entries younger than the threshold: possibly live writers, left alone. */
  readonly tmpKept: number;
  /** Files named by Directories whose blob is not in the store. */
  readonly missingBlobs: number;
  /** Pins naming something not in the store. */
  readonly danglingPins: number;
  /** Nothing was moved or removed: asked for, or the data dir is read-only. */
  readonly dryRun: boolean;
  /** The data dir could not be written (so this was a dry run whatever was asked). */
  readonly readOnly: boolean;
}

export async function fsck(data: DataDir, options: FsckOptions = {}): Promise<FsckSummary> {
  const tmpAgeMs = options.tmpAgeMs ?? DEFAULT_TMP_AGE_MS;
  if (!Number.isFinite(tmpAgeMs) || tmpAgeMs < 0) throw new InvalidInputError('tmpAgeMs must be a non-negative number', tmpAgeMs);
  const run = new FsckRun(data.layout, options, data.readOnly !== undefined);
  return run.run(tmpAgeMs);
}

class FsckRun {
  readonly #layout: FsLayout;
  readonly #opts: FsckOptions;
  readonly #book: ChunkBook;
  /** Blobs that failed (quarantined unless a dry run). */
  readonly #badBlobs = new DigestSet();
  /** Chunks already reported (a chunk shared by several bad blobs is reported once). */
  readonly #reportedChunks = new DigestSet();
  readonly checked = { blobs: 0, chunks: 0, directories: 0 };
  readonly bad = { blobs: 0, chunks: 0, directories: 0, stray: 0 };
  quarantined = 0;
  tmpRemoved = 0;
  tmpKept = 0;
  missingBlobs = 0;
  danglingPins = 0;
  #done = 0;
  /** Report only: asked for, or the data dir turned out not to be writable. */
  #dry: boolean;
  #readOnly: boolean;

  constructor(layout: FsLayout, opts: FsckOptions, readOnly: boolean) {
    this.#layout = layout;
    this.#opts = opts;
    this.#book = new ChunkBook(layout);
    this.#readOnly = readOnly;
    this.#dry = opts.dryRun === true || readOnly;
  }

  async run(tmpAgeMs: number): Promise<FsckSummary> {
    const { progress } = this.#opts;
    if (progress) progress.start(await this.#storedBytes());
    try {
      await this.#cleanTmp(tmpAgeMs);
      // Packs first: every entry is hashed there once, and the blob checks after it take
      // its verdicts instead of hashing a packed chunk again (they still decode every blob).
      await this.#packs();
      await this.#blobs();
      await this.#chunks();
      await this.#directories();
      await this.#pins();
    } finally {
      progress?.finish();
    }
    const b = this.bad;
    return {
      consistent: b.blobs + b.chunks + b.directories + b.stray === 0,
      checked: { ...this.checked },
      bad: { ...b },
      quarantined: this.quarantined,
      tmpRemoved: this.tmpRemoved,
      tmpKept: this.tmpKept,
      missingBlobs: this.missingBlobs,
      danglingPins: this.danglingPins,
      dryRun: this.#dry,
      readOnly: this.#readOnly,
    };
  }

  #advance(bytes: number): void {
    this.#done += bytes;
    this.#opts.progress?.update(this.#done);
  }

  async #storedBytes(): Promise<number> {
    let total = 0;
    for (const top of [this.#layout.blobs, this.#layout.chunks, this.#layout.dirs]) {
      await forEachConcurrent(shardEntries(top, this.#layout.root), WALK_CONCURRENCY, async (e) => {
        if (e.hex === undefined) return;
        try {
          // Not `total += await …`: that reads `total` before the await, losing other lanes' additions.
          const { size } = await lstat(e.path);
          total += size;
        } catch (err: unknown) {
          if (!isNotFound(err)) throw fsError(err, e.path, 'checking');
        }
      });
    }
    for (const pack of listPacks(this.#layout.packs)) {
      try {
        const { size } = await lstat(pack);
        total += size;
      } catch (err: unknown) {
        if (!isNotFound(err)) throw fsError(err, pack, 'checking');
      }
    }
    return total;
  }

  /** Reports a problem, quarantining the entry at `file` first unless this is a dry run. */
  async #problem(p: Omit<FsckProblem, 'quarantined' | 'path'>, file: string): Promise<void> {
    this.#report(p, file, await this.#move(file));
  }

  /** Quarantines `file` unless this is a dry run; where it went, relative to the data dir. */
  async #move(file: string): Promise<string | undefined> {
    if (this.#dry) return undefined;
    try {
      const moved = await quarantine(this.#layout, file);
      if (moved !== undefined) this.quarantined++;
      return moved;
    } catch (err: unknown) {
      if (!this.#notWritable(err)) throw err;
      return undefined;
    }
  }

  #report(p: Omit<FsckProblem, 'quarantined' | 'path'>, file: string, moved: string | undefined): void {
    this.#opts.onProblem?.({ ...p, path: path.relative(this.#layout.root, file), ...(moved === undefined ? {} : { quarantined: moved }) });
  }

  /**
   * A write refused because the data dir is read-only (a read-only mount is not always
   * seen at open): the rest of the run only reports. False for any other error.
   */
  #notWritable(err: unknown): boolean {
    if (!(err instanceof CastorError) || err.code !== 'READ_ONLY') return false;
    this.#readOnly = true;
    this.#dry = true;
    return true;
  }

  async #stray(e: ShardEntry): Promise<void> {
    this.bad.stray++;
    await this.#problem({ kind: 'stray', code: 'STRAY', detail: 'not a store entry (a name that is no digest, or not a regular file)' }, e.path);
  }

  async #cleanTmp(tmpAgeMs: number): Promise<void> {
    const tmp = this.#layout.tmp;
    let names: string[];
    try {
      names = (await readdir(tmp)).sort();
    } catch (err: unknown) {
      if (isNotFound(err)) return;
      throw fsError(err, tmp, 'listing');
    }
    const now = Date.now();
    for (const name of names) {
      const entry = path.join(tmp, name);
      let age: number;
      try {
        age = now - (await lstat(entry)).mtimeMs;
      } catch (err: unknown) {
        if (isNotFound(err)) continue;
        throw fsError(err, entry, 'checking');
      }
      // A live writer's staging dir changes with every chunk it stages.
      if (age < tmpAgeMs) {
        this.tmpKept++;
        continue;
      }
      let removed = false;
      if (!this.#dry) {
        try {
          await rm(entry, { recursive: true, force: true });
          removed = true;
          this.tmpRemoved++;
        } catch (err: unknown) {
          if (!isNotFound(err) && !this.#notWritable(fsError(err, entry, 'removing'))) throw fsError(err, entry, 'removing');
        }
      }
      this.#opts.onTmp?.({ path: path.relative(this.#layout.root, entry), ageMs: Math.max(0, age), removed });
    }
  }

  async #blobs(): Promise<void> {
    const kernels: Blake3Kernel[] = [];
    await forEachConcurrent(shardEntries(this.#layout.blobs, this.#layout.root), WALK_CONCURRENCY, async (e, lane) => {
      if (e.hex === undefined) {
        await this.#stray(e);
        return;
      }
      const digest = this.#digest(e.hex);
      const kernel = (kernels[lane] ??= createKernel());
      const r = await checkBlob(this.#book, digest, { kernel, onChunkVerified: (n) => this.#advance(n) });
      this.#advance(r.recordBytes);
      if (r.absent) return;
      this.checked.blobs++;
      if (r.fault === undefined) return;
      // A record removed while it was read (a gc running meanwhile) took its chunks with it: not damage.
      if (r.fault.code === 'MISSING_CHUNK' && !(await pathExists(e.path))) return;
      await this.#badBlob(digest, e.path, r.fault);
    });
  }

  async #badBlob(digest: Digest, file: string, fault: BlobFault): Promise<void> {
    this.bad.blobs++;
    this.#badBlobs.add(digest);
    const at = (offset: number): string => `at content offset ${offset}`;
    switch (fault.code) {
      case 'CORRUPT_RECORD':
        await this.#problem({ kind: 'blob', digest: formatDigest(digest), code: fault.code, detail: `its record is corrupt: ${fault.detail}` }, file);
        return;
      case 'MISSING_CHUNK':
        await this.#problem({ kind: 'blob', digest: formatDigest(digest), code: fault.code, detail: `chunk ${formatDigest(fault.chunk)} ${at(fault.offset)} is missing` }, file);
        return;
      case 'CORRUPT_CHUNK': {
        // The record goes first: a crash between the two moves must not leave it naming a missing chunk.
        const chunk = formatDigest(fault.chunk);
        const moved = await this.#move(file);
        if (this.#reportedChunks.add(fault.chunk)) {
          this.bad.chunks++;
          this.checked.chunks++;
          await this.#problem({ kind: 'chunk', digest: chunk, code: fault.code, detail: `corrupt: ${fault.detail} (named by blob ${formatDigest(digest)})` }, this.#layout.chunkPath(fault.chunk));
        }
        this.#report({ kind: 'blob', digest: formatDigest(digest), code: fault.code, detail: `chunk ${chunk} ${at(fault.offset)} is corrupt` }, file, moved);
      }
    }
  }

  async #chunks(): Promise<void> {
    await forEachConcurrent(shardEntries(this.#layout.chunks, this.#layout.root), WALK_CONCURRENCY, async (e) => {
      if (e.hex === undefined) {
        await this.#stray(e);
        return;
      }
      const digest = this.#digest(e.hex);
      if (this.#reportedChunks.has(digest)) return;
      if (this.#book.good.has(digest) && !this.#book.goodPacked.has(digest)) {
        this.checked.chunks++;
        return;
      }
      const v = await this.#book.check(digest, (n) => this.#advance(n), true);
      if (v.state === 'missing') return;
      this.checked.chunks++;
      if (v.state === 'corrupt' && this.#reportedChunks.add(digest)) {
        this.bad.chunks++;
        await this.#problem({ kind: 'chunk', digest: e.hex, code: 'CORRUPT_CHUNK', detail: `corrupt: ${v.detail}` }, e.path);
      }
    });
  }

  /** Verifies every pack's entries; see the file comment. This thread's packs are sealed first so they can be repaired. */
  async #packs(): Promise<void> {
    if (!this.#dry) sealPacks();
    let changed = false;
    const badSomewhere = new DigestSet();
    try {
      for (const pack of listPacks(this.#layout.packs)) changed = (await this.#pack(pack, badSomewhere)) || changed;
    } finally {
      if (changed) packIndex(this.#layout).reset();
    }
    // A chunk is bad for the blob checks only if no pack holds a good copy of it: a blob
    // whose chunk has one good copy left (a rewritten pack's, gc's restored one) is whole.
    for (const d of badSomewhere) if (!this.#book.good.has(d)) this.#book.bad.add(d);
  }

  /** Checks one pack, adding the digests of its bad entries to `bad`; true if it was rewritten. */
  async #pack(pack: string, badSomewhere: DigestSet): Promise<boolean> {
    // What its index lists and what a scan finds, both: a garbled entry head stops a scan
    // (the index still knows the entries past it), and an index that is wrong points at
    // bytes that do not hash to the digest it gives (a scan still finds the entry).
    const indexed = readPackView(pack);
    const scanned = readPackView(pack, true);
    if (indexed === undefined || scanned === undefined) return false;
    const merged = new Map<string, ScannedEntry>();
    for (const e of [...indexed.entries, ...scanned.entries]) merged.set(`${e.offset}:${e.size}:${e.hex}`, e);
    const view: PackView = { ...indexed, entries: [...merged.values()].sort((x, y) => x.offset - y.offset) };
    const checks = await verifyPackEntries(view, (n) => this.#advance(n));
    const good = new Set<number>();
    const goodHex = new Set<string>();
    for (const c of checks) {
      if (c.actual !== undefined) continue;
      good.add(c.entry.offset);
      goodHex.add(c.entry.hex);
    }
    // An entry only the index gets wrong, with its bytes found good elsewhere in the pack, is no damage.
    const bad = checks.filter((c): c is Extract<EntryCheck, { bytes: Uint8Array }> => c.actual !== undefined && !goodHex.has(c.entry.hex));
    for (const hex of goodHex) {
      this.#book.good.add(parseDigest(hex));
      this.#book.goodPacked.add(parseDigest(hex));
    }
    for (const { entry } of bad) badSomewhere.add(parseDigest(entry.hex));
    this.checked.chunks += good.size + bad.length;
    // A pack a live writer may still append to is not rewritten: its bad entries are only reported.
    const repair = good.size < checks.length && !this.#dry && packRewritable(indexed);
    for (const { entry, bytes, actual } of bad) {
      if (this.#reportedChunks.add(parseDigest(entry.hex))) this.bad.chunks++;
      const moved = repair ? await this.#quarantineCopy(entry.hex, bytes) : undefined;
      this.#report({ kind: 'chunk', digest: entry.hex, code: 'CORRUPT_CHUNK', detail: `corrupt: its bytes hash to ${formatDigest(actual!)} (packed at offset ${entry.offset})` }, pack, moved);
    }
    if (!repair || this.#dry) return false;
    try {
      await rewritePack(this.#layout, view, (_hex, e) => good.has(e.offset));
      await this.#removePack(pack);
    } catch (err: unknown) {
      if (!this.#notWritable(err)) throw err;
    }
    return true;
  }

  /** Copies a bad entry's bytes to where its chunk file would be quarantined, unless this is a dry run. */
  async #quarantineCopy(hex: string, bytes: Uint8Array): Promise<string | undefined> {
    if (this.#dry) return undefined;
    const base = path.join(this.#layout.quarantine, path.relative(this.#layout.root, this.#layout.chunkPath(hex)));
    try {
      await mkdir(path.dirname(base), { recursive: true });
      for (let n = 0; ; n++) {
        const dest = n === 0 ? base : `${base}.${n}`;
        try {
          await writeFile(dest, bytes, { flag: 'wx' });
        } catch (err: unknown) {
          if (errnoOf(err) === 'EEXIST') continue;
          throw err;
        }
        this.quarantined++;
        return path.relative(this.#layout.root, dest);
      }
    } catch (err: unknown) {
      if (!this.#notWritable(fsError(err, base, 'quarantining'))) throw fsError(err, base, 'quarantining');
      return undefined;
    }
  }

  /** Removes a pack (its good entries copied out already) and its index. */
  async #removePack(pack: string): Promise<void> {
    try {
      await unlink(pack);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw fsError(err, pack, 'removing');
    }
    await removeIndexOf(pack);
  }

  async #directories(): Promise<void> {
    for await (const e of shardEntries(this.#layout.dirs, this.#layout.root)) {
      if (e.hex === undefined) await this.#stray(e);
    }
    const known = new DigestSet();
    this.checked.directories = await checkDirectories(this.#layout, {
      fault: async (f: DirFault) => {
        this.bad.directories++;
        await this.#problem({ kind: 'directory', digest: formatDigest(f.digest), code: f.code, detail: f.detail }, this.#layout.dirPath(f.digest));
      },
      fileBlob: async (dir, name, blob) => {
        if (known.has(blob)) return;
        if (await this.#blobPresent(blob)) {
          known.add(blob);
          return;
        }
        this.missingBlobs++;
        const why = this.#badBlobs.has(blob) ? 'failed this check' : 'is not in the store';
        this.#opts.onNote?.({ kind: 'directory', digest: formatDigest(dir), detail: `file ${showName(name)} names blob ${formatDigest(blob)}, which ${why}` });
      },
      read: (n) => this.#advance(n),
    });
  }

  async #pins(): Promise<void> {
    for (const pin of await listPins(this.#layout)) {
      if (await this.#blobPresent(pin.digest) || await pathExists(this.#layout.dirPath(pin.digest))) continue;
      this.danglingPins++;
      this.#opts.onNote?.({ kind: 'pin', digest: formatDigest(pin.digest), detail: `pinned${pin.label ? ` (${pin.label})` : ''}, but not in the store` });
    }
  }

  async #blobPresent(blob: Digest): Promise<boolean> {
    if (this.#dry && this.#badBlobs.has(blob)) return false;
    if (await pathExists(this.#layout.blobPath(blob))) return true;
    // Kept as its chunk alone (one-group-blob.ts): present unless this run found that chunk corrupt.
    return !this.#reportedChunks.has(blob) && (await oneGroupBlobSize(this.#layout, blob)) !== undefined;
  }

  #digest(hex: string): Digest {
    return parseDigest(hex);
  }
}

