// gc: removes the Directories, blob records and chunks that no root keeps. Roots are the
// pins and what accepted signed roots name (trustRoots); everything younger than the grace
// period counts as a root too, since writers publish chunks before records, records and
// Directories before the pin that will keep them, and dedup against what is already there.
//
// Sweep order keeps the store consistent at every instant, crash included: Directories
// (each trashed one restored if a kept Directory turns out to name it), then records
// (their removal made durable), then chunks and packs, so no visible record ever names a
// removed chunk and kept Directories stay closed under references. An entry is first moved
// into a private trash dir under tmp/, then its mtime is looked at again: a writer that
// refreshed it just before the move (dedup) gets it put back; one that tries just after
// finds it gone and writes its own copy.
//
// Packs (pack-format.ts) hold small blobs kept with no record, each its own chunk: an entry
// is live when its digest is a marked chunk. A pack with dead entries is rewritten with
// the live ones (pack-rewrite.ts), and the old one goes through the trash like a chunk
// file: a writer deduping against any entry refreshes the whole pack's mtime, so the old
// pack is put back (beside its rewritten copy: a blob in two packs is harmless). Only packs
// no writer appends to any more are touched, and young ones are kept whole.

import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { InvalidInputError } from '../../verify/index.js';
import { syncDir } from '../fs/index.js';
import type { DataDir } from '../disk/index.js';
import { asDigest, formatDigest, parseDigest, type Digest } from '../digest.js';
import { DigestSet } from '../util/index.js';
import { fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { Marker } from './gc-mark.js';
import { forEachConcurrent, WALK_CONCURRENCY } from '../util/index.js';
import { listPins } from './pins.js';
import { storedEntries, type StoredEntry } from '../fs/index.js';
import { INDEX_SUFFIX, listPacks, PACK_SUFFIX, packIndex, readPackView, type PackView } from '../disk/index.js';
import { packRewritable, removeIndexOf, rewritePack, rewritePacks } from '../disk/index.js';
import { sealPacks } from '../disk/index.js';
import { trustRoots } from '../trust/index.js';
import { pathInfoRoots } from '../nix/index.js';

export { GcAbortedError } from './gc-mark.js';

export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
/** Packs smaller than this whose entries are all live are merged (see #mergePacks)... */
const MERGE_BELOW = 16 << 20;
/** ...when there are at least this many. */
const MERGE_MIN = 4;
/** tmp/ entries older than this are a killed writer's leftovers (fsck's default too). */
export const GC_TMP_AGE_MS = 60 * 60 * 1000;

export type GcKind = 'blob' | 'directory' | 'chunk';

export interface GcOptions {
  /** Entries modified more recently than this are kept whatever the roots say. @default one hour */
  graceMs?: number;
  /** Count what would go, remove nothing. @default false */
  dryRun?: boolean;
  /** The roots; default: every pin, then trustRoots(data). */
  roots?: AsyncIterable<Digest> | Iterable<Digest>;
  /** Called for each entry removed (or, on a dry run, that would be). */
  onRemove?: (e: { kind: GcKind; digest: string; bytes: number }) => void;
}

export interface GcCounts {
  blobs: number;
  dirs: number;
  chunks: number;
}

export interface GcSummary {
  /** Root digests considered, and how many of them named nothing stored. */
  readonly roots: number;
  readonly missingRoots: number;
  readonly removed: GcCounts;
  readonly bytesFreed: number;
  /** Entries left in place: reachable from a root, or young. */
  readonly kept: GcCounts;
  /** Of the kept, those no root reaches that were kept for being younger than the grace period. */
  readonly young: GcCounts;
  readonly tmpRemoved: number;
  readonly dryRun: boolean;
}

/** Every pin's digest, then what signed roots keep, then each Nix PathInfo's root. */
export async function* defaultRoots(data: DataDir): AsyncGenerator<Digest> {
  for (const pin of await listPins(data.layout)) yield pin.digest;
  yield* trustRoots(data);
  yield* pathInfoRoots(data.layout);
}

export async function gc(data: DataDir, options: GcOptions = {}): Promise<GcSummary> {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new InvalidInputError('graceMs must be a non-negative number', graceMs);
  if (data.readOnly && !options.dryRun) throw data.readOnly;
  return new GcRun(data, graceMs, options).run();
}

type Outcome = { state: 'removed'; bytes: number } | { state: 'kept' } | { state: 'gone' };

class GcRun {
  readonly #data: DataDir;
  readonly #layout: FsLayout;
  readonly #opts: GcOptions;
  readonly #dry: boolean;
  /** Anything modified after this (ms since the epoch) is young. */
  readonly #cutoff: number;
  readonly #mark: Marker;
  readonly removed: GcCounts = { blobs: 0, dirs: 0, chunks: 0 };
  readonly kept: GcCounts = { blobs: 0, dirs: 0, chunks: 0 };
  readonly young: GcCounts = { blobs: 0, dirs: 0, chunks: 0 };
  bytesFreed = 0;
  #trash: string | undefined;

  constructor(data: DataDir, graceMs: number, opts: GcOptions) {
    this.#data = data;
    this.#layout = data.layout;
    this.#opts = opts;
    this.#dry = opts.dryRun === true;
    this.#cutoff = Date.now() - graceMs;
    this.#mark = new Marker(data);
  }

  async run(): Promise<GcSummary> {
    let roots = 0;
    let missingRoots = 0;
    await forEachConcurrent(this.#opts.roots ?? defaultRoots(this.#data), WALK_CONCURRENCY, async (root) => {
      roots++;
      if (!(await this.#mark.root(root))) missingRoots++;
    });
    await this.#markYoung();
    let tmpRemoved = 0;
    try {
      await this.#sweepDirs();
      await this.#sweepRecords();
      await this.#sweepChunks();
      await this.#sweepPacks();
      if (!this.#dry) tmpRemoved = await this.#data.blobs.cleanTemp(GC_TMP_AGE_MS);
    } finally {
      if (this.#trash !== undefined) await rm(this.#trash, { recursive: true, force: true });
    }
    return {
      roots,
      missingRoots,
      removed: { ...this.removed },
      bytesFreed: this.bytesFreed,
      kept: { ...this.kept },
      young: { ...this.young },
      tmpRemoved,
      dryRun: this.#dry,
    };
  }

  #isYoung(st: Stats): boolean {
    return st.mtimeMs > this.#cutoff;
  }

  /** Young Directories and records are roots: a writer may be about to pin them. */
  async #markYoung(): Promise<void> {
    await forEachConcurrent(storedEntries(this.#layout.dirs, this.#layout.root), WALK_CONCURRENCY, async (e) => {
      if (this.#mark.dirs.has(e.digest)) return;
      const st = await statOf(e.path);
      if (st !== undefined && this.#isYoung(st)) {
        this.young.dirs++;
        await this.#mark.tree(e.digest);
      }
    });
    await forEachConcurrent(storedEntries(this.#layout.blobs, this.#layout.root), WALK_CONCURRENCY, async (e) => {
      if (this.#mark.blobs.has(e.digest)) return;
      const st = await statOf(e.path);
      if (st !== undefined && this.#isYoung(st)) {
        this.young.blobs++;
        await this.#mark.record(e.digest);
      }
    });
  }

  /**
   * Unmarked old Directories go to the trash and stay there until the pass is over: a
   * Directory found young on the way (a writer put it, or put a parent of it, meanwhile)
   * is kept with its whole tree, taken back out of the trash where needed.
   */
  async #sweepDirs(): Promise<void> {
    const trashed = new DigestSet();
    const back = new DigestSet();
    const keepTree = async (top: Digest): Promise<void> => {
      const queue = [top];
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
        if (this.#mark.dirs.has(d)) continue;
        if (trashed.has(d) && !back.has(d)) {
          await this.#restore(this.#trashPath('d', d), this.#layout.dirPath(d));
          back.add(d);
        }
        const dir = await this.#data.directories.get(d);
        if (dir === undefined) continue;
        this.#mark.dirs.add(d);
        await forEachConcurrent(dir.files, WALK_CONCURRENCY, async (f) => { await this.#mark.blob(asDigest(f.digest)); });
        for (const c of dir.directories) queue.push(asDigest(c.digest));
      }
    };
    try {
      for await (const e of storedEntries(this.#layout.dirs, this.#layout.root)) {
        if (this.#mark.dirs.has(e.digest)) {
          this.kept.dirs++;
          continue;
        }
        const st = await statOf(e.path);
        if (st === undefined) continue;
        if (this.#isYoung(st)) {
          this.kept.dirs++;
          this.young.dirs++;
          await keepTree(e.digest);
          continue;
        }
        if (this.#dry) {
          this.#removed('directory', e.hex, st.size);
          continue;
        }
        const moved = await this.#toTrash(e, 'd');
        if (moved === undefined) continue;
        if (this.#isYoung(moved)) {
          // Refreshed between our look and the move: a writer is relying on it.
          await this.#restore(this.#trashPath('d', e.digest), e.path);
          this.kept.dirs++;
          this.young.dirs++;
          await keepTree(e.digest);
          continue;
        }
        trashed.add(e.digest);
      }
    } catch (err: unknown) {
      // Stopped half way: put every trashed Directory back rather than guess which are needed.
      for (const d of trashed) {
        if (!back.has(d)) await this.#restore(this.#trashPath('d', asDigest(d)), this.#layout.dirPath(d)).catch(() => undefined);
      }
      throw err;
    }
    // What is still in the trash now goes for good.
    for (const d of trashed) {
      if (back.has(d)) {
        this.kept.dirs++;
        continue;
      }
      const p = this.#trashPath('d', asDigest(d));
      const st = await statOf(p);
      if (st === undefined) continue;
      await removeFile(p);
      this.#removed('directory', formatDigest(d), st.size);
    }
  }

  async #sweepRecords(): Promise<void> {
    const dirty = new Set<string>();
    await forEachConcurrent(storedEntries(this.#layout.blobs, this.#layout.root), WALK_CONCURRENCY, async (e) => {
      if (this.#mark.blobs.has(e.digest)) {
        this.kept.blobs++;
        return;
      }
      const r = await this.#sweepOne(e, 'b');
      if (r.state === 'gone') return;
      if (r.state === 'kept') {
        this.kept.blobs++;
        this.young.blobs++;
        await this.#mark.record(e.digest);
        return;
      }
      this.#removed('blob', e.hex, r.bytes);
      dirty.add(path.dirname(e.path));
    });
    // Records must be gone for good before any chunk they named is.
    if (!this.#dry) {
      for (const d of dirty) await syncDir(d);
      if (this.#trash !== undefined) await syncDir(this.#trash);
    }
  }

  async #sweepChunks(): Promise<void> {
    await forEachConcurrent(storedEntries(this.#layout.chunks, this.#layout.root), WALK_CONCURRENCY, async (e) => {
      if (this.#mark.chunks.has(e.digest)) {
        this.kept.chunks++;
        return;
      }
      const r = await this.#sweepOne(e, 'c');
      if (r.state === 'gone') return;
      if (r.state === 'kept') {
        this.kept.chunks++;
        this.young.chunks++;
        return;
      }
      this.#removed('chunk', e.hex, r.bytes);
    });
  }

  /**
   * Packs with dead entries are rewritten (see the file comment). This thread's packs are
   * sealed first so they can be; a dry run counts them as if they were.
   */
  async #sweepPacks(): Promise<void> {
    if (!this.#dry) sealPacks();
    const ownPrefix = `${process.pid}-${threadId}-`;
    let changed = false;
    try {
      const small: PackView[] = [];
      for (const pack of listPacks(this.#layout.packs)) {
        const view = readPackView(pack);
        if (view === undefined) continue;
        const rewritable = packRewritable(view) || (this.#dry && path.basename(pack).startsWith(ownPrefix));
        if (await this.#sweepPack(view, rewritable)) {
          changed = true;
        } else if (rewritable && view.size < MERGE_BELOW && view.mtimeMs <= this.#cutoff && view.entries.length > 0
          && view.entries.every((e) => this.#mark.chunks.has(parseDigest(e.hex)))) {
          small.push(view);
        }
      }
      if (!this.#dry) {
        changed = (await this.#mergePacks(small)) || changed;
        await this.#removeOrphanIndexes();
      }
    } finally {
      // This thread's index may name entries in packs that are gone now.
      if (changed) packIndex(this.#layout).reset();
    }
  }

  /**
   * Pack indexes whose pack is gone: what a gc or fsck stopped between removing a pack and
   * its index leaves. Only old ones: a rewrite publishes the new index just before its pack.
   */
  async #removeOrphanIndexes(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#layout.packs);
    } catch (err: unknown) {
      if (isNotFound(err)) return;
      throw fsError(err, this.#layout.packs, 'listing');
    }
    const packs = new Set(names.filter((n) => n.endsWith(PACK_SUFFIX)));
    for (const n of names) {
      if (!n.endsWith(INDEX_SUFFIX) || packs.has(n.slice(0, -INDEX_SUFFIX.length) + PACK_SUFFIX)) continue;
      const file = path.join(this.#layout.packs, n);
      const st = await statOf(file);
      if (st !== undefined && !this.#isYoung(st)) await removeFile(file);
    }
  }

  /** Sweeps one pack; true if it was rewritten or removed. */
  async #sweepPack(view: PackView, rewritable: boolean): Promise<boolean> {
    const live = (hex: string): boolean => this.#mark.chunks.has(parseDigest(hex));
    const dead = view.entries.filter((e) => !live(e.hex));
    const keptWhole = (): false => {
      this.kept.chunks += view.entries.length;
      this.young.chunks += dead.length;
      return false;
    };
    if (dead.length === 0 && view.entries.length > 0) {
      this.kept.chunks += view.entries.length;
      return false;
    }
    // Young, or a live writer may still append to it: its dead entries may be about to be named.
    if (!rewritable || view.mtimeMs > this.#cutoff) return keptWhole();
    if (this.#dry) {
      this.kept.chunks += view.entries.length - dead.length;
      for (const e of dead) this.#removed('chunk', e.hex, e.size);
      return false;
    }
    const fresh = await rewritePack(this.#layout, view, live);
    const retired = await this.#retire(view);
    if (retired === 'gone') return fresh !== undefined;
    if (retired === 'restored') {
      keptWhole();
      return fresh !== undefined;
    }
    this.kept.chunks += view.entries.length - dead.length;
    for (const e of dead) this.#removed('chunk', e.hex, e.size);
    return true;
  }

  /**
   * Removes a pack whose kept entries were copied out, through the trash: put back if its
   * mtime changed since `view` was taken (a writer deduped against it and relies on it).
   */
  async #retire(view: PackView): Promise<'removed' | 'restored' | 'gone'> {
    const trashPath = path.join(await this.#trashDir(), `p-${path.basename(view.pack)}`);
    try {
      await rename(view.pack, trashPath);
    } catch (err: unknown) {
      // Another gc or an fsck took it meanwhile; whatever we copied out is a harmless duplicate.
      if (isNotFound(err)) return 'gone';
      throw fsError(err, view.pack, 'removing');
    }
    const moved = await statOf(trashPath);
    if (moved !== undefined && (moved.mtimeMs !== view.mtimeMs || this.#isYoung(moved))) {
      await this.#restore(trashPath, view.pack);
      return 'restored';
    }
    await removeIndexOf(view.pack);
    await removeFile(trashPath);
    return 'removed';
  }

  /**
   * Small old packs whose entries are all live, merged into one: each process that adds
   * files leaves a pack or two, and every later process reads each pack's index on its first
   * small-blob lookup (2,000 packs of one entry: `castor cat` of a small blob 0.55 s
   * against 0.2 s). Fewer than MERGE_MIN are left as they are.
   */
  async #mergePacks(small: PackView[]): Promise<boolean> {
    if (small.length < MERGE_MIN) return false;
    const merged = await rewritePacks(this.#layout, small, () => true);
    if (merged === undefined) return false;
    for (const view of small) await this.#retire(view);
    return true;
  }

  /** Removes one unmarked record or chunk unless it is young (checked again after moving it aside). */
  async #sweepOne(e: StoredEntry, tag: string): Promise<Outcome> {
    const st = await statOf(e.path);
    if (st === undefined) return { state: 'gone' };
    if (this.#isYoung(st)) return { state: 'kept' };
    if (this.#dry) return { state: 'removed', bytes: st.size };
    const moved = await this.#toTrash(e, tag);
    if (moved === undefined) return { state: 'gone' };
    const trashPath = this.#trashPath(tag, e.digest);
    if (this.#isYoung(moved)) {
      await this.#restore(trashPath, e.path);
      return { state: 'kept' };
    }
    await removeFile(trashPath);
    return { state: 'removed', bytes: moved.size };
  }

  #removed(kind: GcKind, hex: string, bytes: number): void {
    if (kind === 'blob') this.removed.blobs++;
    else if (kind === 'chunk') this.removed.chunks++;
    else this.removed.dirs++;
    this.bytesFreed += bytes;
    this.#opts.onRemove?.({ kind, digest: hex, bytes });
  }

  #trashPath(tag: string, digest: Digest): string {
    return path.join(this.#trash!, `${tag}-${formatDigest(digest)}`);
  }

  /** Moves `e` into the trash; resolves to its stat there, or undefined if it was already gone. */
  async #toTrash(e: StoredEntry, tag: string): Promise<Stats | undefined> {
    await this.#trashDir();
    const to = this.#trashPath(tag, e.digest);
    try {
      await rename(e.path, to);
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      throw fsError(err, e.path, 'removing');
    }
    return statOf(to);
  }

  /** The private trash dir, made on first use. */
  async #trashDir(): Promise<string> {
    if (this.#trash === undefined) {
      const dir = this.#layout.newTempPath('g-');
      try {
        await mkdir(dir);
      } catch (err: unknown) {
        throw fsError(err, dir, 'creating');
      }
      this.#trash = dir;
    }
    return this.#trash;
  }

  /** Puts a trashed entry back (if it is still in the trash). */
  async #restore(from: string, to: string): Promise<void> {
    try {
      // If a writer published the same name meanwhile, the content is the same: replacing is fine.
      await rename(from, to);
    } catch (err: unknown) {
      if (isNotFound(err) && (await statOf(from)) === undefined) return;
      throw fsError(err, to, 'restoring');
    }
  }
}

async function removeFile(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err: unknown) {
    if (!isNotFound(err)) throw fsError(err, file, 'removing');
  }
}

async function statOf(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw fsError(err, file, 'checking');
  }
}
