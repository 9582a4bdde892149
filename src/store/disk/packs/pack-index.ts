// Where in packs/ each packed chunk is (pack-format.ts), per data dir and thread, loaded on
// first use and refreshed when a lookup misses: the packs written since by other threads
// and processes are found by the packs dir changing (new packs) or a pack still being
// written growing. A sealed pack with a version 2 index is held by that index's filter and
// fanout alone (about 1.25 bytes a chunk), and asked one fanout bucket at a time; the
// entries of other packs (being written, or indexed by an older castor) are held in a map
// (about 150 bytes a chunk), as are entries this thread writes, hears of from the put-file
// worker, or found by asking a sealed pack's index.
//
// Synchronous on purpose: it is asked from the small-file put path and the server's
// synchronous chunk reads, where a thread-pool round trip costs more than the work.

import { existsSync, fstatSync, openSync, closeSync, readdirSync, statSync } from 'node:fs';
import { errnoOf, fsError } from '../../fs/index.js';
import type { FsLayout } from '../../fs/index.js';
import { bloomHas, bloomProbes, ENTRY_HEAD, findInIndex, packCheck, readFully, withFile, PACK_MAGIC, readIndex, readIndexSummary, scanPack, type IndexSummary, type PackEntry, type ScannedEntry } from './pack-format.js';

export const PACK_SUFFIX = '.pack';
export const INDEX_SUFFIX = '.idx';

interface PackState {
  /** Bytes of the pack accounted for (entries found up to here). */
  scanned: number;
  /** The pack's size when last looked at. */
  size: number;
  /** Its index covers all of it: its writer was done with it, so it will not grow. */
  sealed: boolean;
}

/** A sealed pack asked through its version 2 index rather than held entry by entry. */
interface FilteredPack {
  readonly pack: string;
  readonly index: string;
  readonly summary: IndexSummary;
}

export class PackIndex {
  readonly #dir: string;
  readonly #entries = new Map<string, PackEntry>();
  /** Sealed packs with a version 2 index: their filters and fanouts only (pack-format.ts). */
  #filtered: FilteredPack[] = [];
  readonly #packs = new Map<string, PackState>();
  #dirStamp = -1n;
  #loaded = false;
  /** When refresh last ran (performance.now()). */
  #lastRefresh = -Infinity;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Entries held in the map (those of unsealed packs, and those asked of sealed ones): for tests. */
  get held(): number {
    return this.#entries.size;
  }

  /** The entry for blob `hex` known now, without looking at the disk (for dedup). */
  peek(hex: string): PackEntry | undefined {
    if (!this.#loaded) this.refresh();
    return this.#find(hex);
  }

  /**
   * The entry for blob `hex` if this thread's map is loaded and holds it; never loads the
   * map (for readers that try a chunk file first and come to the packs only when it is
   * missing, so reading a large blob does not load the map of every packed blob).
   */
  known(hex: string): PackEntry | undefined {
    return this.#loaded ? this.#find(hex) : undefined;
  }

  /** What this thread knows of `hex`: its map, then the sealed packs' indexes (an entry found there is kept in the map). */
  #find(hex: string): PackEntry | undefined {
    const held = this.#entries.get(hex);
    if (held !== undefined || this.#filtered.length === 0) return held;
    const digest = Buffer.from(hex, 'hex');
    const probes = bloomProbes(digest);
    // #unfilter replaces the array, so this loop goes on over the one it began with.
    for (const f of this.#filtered) {
      if (!bloomHas(f.summary.bloom, probes)) continue;
      const at = findInIndex(f.index, f.summary, digest, probes);
      if (at === undefined) {
        // An index gone while its pack stays (a gc that put the pack back): its entries
        // would be out of sight for good; the pack is taken entry by entry instead.
        if (!existsSync(f.index)) this.#unfilter(f);
        const held = this.#entries.get(hex);
        if (held !== undefined) return held;
        continue;
      }
      // Before the entry is trusted (dedup skips storing a chunk it finds): the pack's own
      // head there names this digest and size.
      if (!headMatches(f.pack, at.offset, digest, at.size)) continue;
      const entry = { pack: f.pack, offset: at.offset, size: at.size };
      this.#entries.set(hex, entry);
      return entry;
    }
    return undefined;
  }

  /** Takes a filtered pack entry by entry (its index is gone). */
  #unfilter(f: FilteredPack): void {
    this.#filtered = this.#filtered.filter((x) => x !== f);
    this.#packs.delete(f.pack);
    this.#load(f.pack);
  }

  /**
   * The entry for `hex`, looking at packs/ again when it is not known and the last look
   * was at least `ms` ago (dedup: a miss is the usual case, new data, and a look per miss
   * would be a stat per unsealed pack per chunk).
   */
  lookupEvery(hex: string, ms: number): PackEntry | undefined {
    const known = this.peek(hex);
    if (known !== undefined) return known;
    const now = performance.now();
    if (now - this.#lastRefresh < ms) return undefined;
    return this.refresh() ? this.#find(hex) : undefined;
  }

  /** The entry for blob `hex`, looking at packs/ again if it is not known yet. */
  lookup(hex: string): PackEntry | undefined {
    const known = this.peek(hex);
    if (known !== undefined) return known;
    return this.refresh() ? this.#find(hex) : undefined;
  }

  /**
   * lookup, after looking at the packs dir again: a pack removed since this thread last
   * looked (gc or fsck in another process rewrote it without a dead entry) changes the
   * dir, and `has` must not answer from a stale map. One stat, as checking the pack was.
   */
  lookupFresh(hex: string): PackEntry | undefined {
    if (this.#loaded && dirStamp(this.#dir) !== this.#dirStamp) this.refresh();
    return this.lookup(hex);
  }

  /**
   * Records an entry just written (by this thread, or the put-file worker), and that its
   * pack is accounted for up to the entry's end, so a refresh does not read back what was
   * just written to learn what is already known.
   */
  add(hex: string, entry: PackEntry): void {
    if (!this.#entries.has(hex)) this.#entries.set(hex, entry);
    const end = entry.offset + entry.size;
    const st = this.#packs.get(entry.pack);
    if (st === undefined) {
      // Only a pack known from its start: one first seen here may hold entries written before.
      if (entry.offset === PACK_MAGIC.length + ENTRY_HEAD) this.#packs.set(entry.pack, { scanned: end, size: end, sealed: false });
    } else if (st.scanned === entry.offset - ENTRY_HEAD) {
      st.scanned = end;
      st.size = Math.max(st.size, end);
    }
  }

  #note(hex: string, entry: PackEntry): void {
    if (!this.#entries.has(hex)) this.#entries.set(hex, entry);
  }

  /** Forgets everything: a pack known here was removed or rewritten (gc, fsck). The next lookup loads again. */
  reset(): void {
    this.#entries.clear();
    this.#packs.clear();
    this.#filtered = [];
    this.#dirStamp = -1n;
    this.#loaded = false;
  }

  /** Looks for new packs and growth of known ones; true if anything new was found. */
  refresh(): boolean {
    this.#loaded = true;
    this.#lastRefresh = performance.now();
    let grew = false;
    const stamp = dirStamp(this.#dir);
    if (stamp !== this.#dirStamp) {
      this.#dirStamp = stamp;
      const names = stamp === 0n ? [] : listPacks(this.#dir);
      const present = new Set(names);
      if ([...this.#packs.keys()].some((p) => !present.has(p))) {
        // A pack went away (gc or fsck rewrote it): start over rather than unpick which entries it held.
        this.#entries.clear();
        this.#packs.clear();
        this.#filtered = [];
      }
      for (const pack of names) {
        if (!this.#packs.has(pack)) grew = this.#load(pack) || grew;
      }
    }
    for (const [pack, st] of this.#packs) {
      if (st.sealed) continue;
      const size = sizeOf(pack);
      if (size === undefined || size === st.size) continue;
      grew = this.#catchUp(pack) || grew;
    }
    return grew;
  }

  /**
   * Takes `pack` the first time it is seen: a sealed pack with a version 2 index by its
   * filter and fanout alone; any other by its entries, from its index and a scan of the rest.
   */
  #load(pack: string): boolean {
    const size = sizeOf(pack);
    if (size === undefined) return false;
    const index = indexPathOf(pack);
    const summary = readIndexSummary(index, size);
    if (summary !== undefined && summary.covered === size) {
      this.#filtered.push({ pack, index, summary });
      this.#packs.set(pack, { scanned: size, size, sealed: true });
      return summary.count > 0;
    }
    const view = readPackView(pack);
    if (view === undefined) return false;
    for (const e of view.entries) this.#note(e.hex, { pack, offset: e.offset, size: e.size });
    this.#packs.set(pack, { scanned: view.scanned, size: view.size, sealed: view.sealed });
    return view.entries.length > 0;
  }

  /** Takes the entries appended to `pack` since it was last looked at, by scanning them. */
  #catchUp(pack: string): boolean {
    const st = this.#packs.get(pack)!;
    return withPack(pack, (fd) => {
      st.size = fstatSync(fd).size;
      const { entries, stop } = scanPack(fd, st.scanned, st.size);
      for (const e of entries) this.#note(e.hex, { pack, offset: e.offset, size: e.size });
      // A torn tail (a writer killed mid-append) stays unscanned; the size records that we saw it.
      st.scanned = stop;
      return entries.length > 0;
    }) ?? false;
  }
}

/** Whether the entry head before `offset` in `pack` is a whole, checked head for `digest` of `size` bytes. */
function headMatches(pack: string, offset: number, digest: Uint8Array, size: number): boolean {
  return withFile(pack, (fd) => {
    const head = new Uint8Array(ENTRY_HEAD);
    if (readFully(fd, head, offset - ENTRY_HEAD) !== ENTRY_HEAD) return false;
    const v = new DataView(head.buffer);
    return v.getUint32(0, true) === size && Buffer.compare(head.subarray(4, 36), digest) === 0 && v.getUint32(36, true) === packCheck(digest, size);
  }) ?? false;
}

/** A pack as found on disk: its entries (as readers see them), size, mtime, and whether it is sealed. */
export interface PackView {
  readonly pack: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Its index covers all of it: its writer is done with it. */
  readonly sealed: boolean;
  readonly entries: readonly ScannedEntry[];
  /** Where the entries counted end: the pack's size, or where a torn or garbled entry begins. */
  readonly scanned: number;
}

export function indexPathOf(pack: string): string {
  return pack.slice(0, -PACK_SUFFIX.length) + INDEX_SUFFIX;
}

/**
 * The entries of `pack` as every reader takes them: its index for the prefix it covers, a
 * scan for the rest (a torn tail is not counted). Undefined if the pack is gone.
 * `scanOnly` ignores the index (fsck, when the index turned out not to match the pack).
 */
export function readPackView(pack: string, scanOnly = false): PackView | undefined {
  return withPack(pack, (fd) => {
    const st = fstatSync(fd);
    const entries: ScannedEntry[] = [];
    let scanned = 0;
    let sealed = false;
    const idx = scanOnly ? undefined : readIndex(indexPathOf(pack), st.size);
    if (idx !== undefined) {
      entries.push(...idx.entries);
      scanned = idx.covered;
      sealed = idx.covered === st.size;
    }
    if (scanned < st.size) {
      const scan = scanPack(fd, scanned, st.size);
      entries.push(...scan.entries);
      scanned = scan.stop;
    }
    return { pack, size: st.size, mtimeMs: st.mtimeMs, sealed, entries, scanned };
  });
}

/** `body` with `pack` open for reading; undefined if the pack is gone (gc or fsck rewrote it). */
function withPack<T>(pack: string, body: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = openSync(pack, 'r');
  } catch (err: unknown) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw fsError(err, pack, 'reading');
  }
  try {
    return body(fd);
  } finally {
    closeSync(fd);
  }
}

const indexes = new Map<string, PackIndex>();

/** This thread's index of the packs of the data dir laid out by `layout`. */
export function packIndex(layout: FsLayout): PackIndex {
  let idx = indexes.get(layout.packs);
  if (idx === undefined) {
    idx = new PackIndex(layout.packs);
    indexes.set(layout.packs, idx);
  }
  return idx;
}

/** The packs in `dir`, as paths. */
export function listPacks(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err: unknown) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw fsError(err, dir, 'listing');
  }
  return names.filter((n) => n.endsWith(PACK_SUFFIX)).sort().map((n) => `${dir}/${n}`);
}

function dirStamp(dir: string): bigint {
  try {
    return statSync(dir, { bigint: true }).mtimeNs;
  } catch (err: unknown) {
    if (errnoOf(err) === 'ENOENT') return 0n;
    throw fsError(err, dir, 'checking');
  }
}

function sizeOf(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch (err: unknown) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw fsError(err, file, 'checking');
  }
}
