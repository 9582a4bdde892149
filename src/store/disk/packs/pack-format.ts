// Chunks packed together. A blob of one group left whole by FastCDC (a file of up to
// 16 KiB, one-group-blob.ts) and every chunk the streaming writer cuts from a larger blob
// is kept as an entry appended to a pack file in packs/ rather than as a chunk file of its
// own: creating an inode per small file was most of what adding a tree of them cost (ext4
// here: 60-130 us of kernel time a file for create + rename, against one append), which is
// also why iroh-blobs keeps small blobs inline in its database; for a 1 GiB blob the 16,000
// chunk files were nine tenths kernel time of the thread that made them. Each pack has one
// writer (a thread of one process), so appends need no lock.
//
// A pack is its magic, then entries: [size u32 LE][digest 32][check u32 LE][size bytes].
// The check ties the header together so a scan stops at garbage rather than inventing
// an entry; the bytes themselves are checked against the digest on every read. A writer
// killed mid-append leaves a torn last entry, which a scan does not count (its bytes run
// past the end of the file), so no partial blob is ever visible under a digest.
//
// The index of a pack (PACK.idx) lists its entries so a reader need not read the pack to
// find them. It is written when the writer is done with the pack; a reader takes it for
// the prefix it covers and scans the rest, so an index is only ever a shortcut. Version 2
// (what writers write) is made to be asked without being loaded: magic "castorI2", the
// pack length it covers u64, entry count u32, bloom filter bytes u32, a fanout table
// (256 u32: entries whose digest's first byte is at most i), a bloom filter over the
// digests (10 bits per entry, 7 probes taken from the digest's own words, which are
// uniformly random), then the entries sorted by digest, [digest 32][data offset u64][size
// u32] each. A process keeps a pack's fanout and filter (about 1.25 bytes per chunk) and
// reads one fanout bucket of entries when the filter says yes, instead of holding every
// entry of every pack in a map (about 150 bytes per chunk). Version 1 ("castorI1": covered,
// then the entries in pack order) is still read.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { toHex } from '../../../verify/index.js';
import { MAXIMUM_MAX } from '../../chunking/index.js';

export const PACK_MAGIC = new TextEncoder().encode('castorP1');
export const INDEX_MAGIC = new TextEncoder().encode('castorI1');
export const INDEX2_MAGIC = new TextEncoder().encode('castorI2');
const INDEX2_HEAD = 24;
const FANOUT_BYTES = 256 * 4;
const BLOOM_BITS_PER_ENTRY = 10;
const BLOOM_PROBES = 7;
export const ENTRY_HEAD = 40;
const INDEX_HEAD = 16;
const INDEX_ENTRY = 44;
const CHECK_SALT = 0x9e3779b9;
/** No entry is larger than the largest chunk any chunker setting cuts. */
export const ENTRY_MAX = MAXIMUM_MAX;
/** Entries up to this size are scanned a block at a time; past a larger one, a head at a time. */
const SMALL_ENTRY = 4096;

/** Where an entry's bytes are: the pack's path, the offset of its bytes in it, its size. */
export interface PackEntry {
  readonly pack: string;
  readonly offset: number;
  readonly size: number;
}

export function packCheck(digest: Uint8Array, size: number): number {
  const d = new DataView(digest.buffer, digest.byteOffset, 32);
  let h = (size ^ CHECK_SALT) >>> 0;
  for (let i = 0; i < 32; i += 4) h = Math.imul(h ^ d.getUint32(i, true), 0x01000193) >>> 0;
  return h;
}

export function encodeEntryHead(digest: Uint8Array, size: number): Uint8Array {
  const head = new Uint8Array(ENTRY_HEAD);
  const v = new DataView(head.buffer);
  v.setUint32(0, size, true);
  head.set(digest, 4);
  v.setUint32(36, packCheck(digest, size), true);
  return head;
}

/** One entry found by a scan. */
export interface ScannedEntry {
  readonly hex: string;
  readonly offset: number;
  readonly size: number;
}

/**
 * The entries of the pack open at `fd` from byte `from` (an entry boundary, or 0 for the
 * start) to `end`, read in blocks. Resolves to them and the offset the scan stopped at:
 * the end of the last whole entry, where a torn or garbled entry (if any) begins.
 */
export function scanPack(fd: number, from: number, end: number): { entries: ScannedEntry[]; stop: number } {
  const entries: ScannedEntry[] = [];
  let pos = from;
  if (pos === 0) {
    const magic = new Uint8Array(PACK_MAGIC.length);
    if (readFully(fd, magic, 0) !== magic.length || !equal(magic, PACK_MAGIC)) return { entries, stop: 0 };
    pos = PACK_MAGIC.length;
  }
  const block = new Uint8Array(1 << 20);
  let blockStart = 0;
  let blockLen = 0;
  let lastSize = 0;
  const view = new DataView(block.buffer);
  while (pos + ENTRY_HEAD <= end) {
    if (pos < blockStart || pos + ENTRY_HEAD > blockStart + blockLen) {
      blockStart = pos;
      // Past a large entry only the next head is read: a pack of a large blob's chunks is
      // found by reading 40 bytes per 64 KiB, not all of it; small entries come a block at a time.
      const want = lastSize > SMALL_ENTRY ? ENTRY_HEAD : block.length;
      blockLen = readFully(fd, block.subarray(0, Math.min(want, end - pos)), pos);
      if (blockLen < ENTRY_HEAD) break;
    }
    const at = pos - blockStart;
    const size = view.getUint32(at, true);
    const digest = block.subarray(at + 4, at + 36);
    if (size === 0 || size > ENTRY_MAX || view.getUint32(at + 36, true) !== packCheck(digest, size)) break;
    if (pos + ENTRY_HEAD + size > end) break;
    entries.push({ hex: toHex(digest), offset: pos + ENTRY_HEAD, size });
    pos += ENTRY_HEAD + size;
    lastSize = size;
  }
  return { entries, stop: pos };
}

export function encodeIndex(covered: number, entries: readonly { digest: Uint8Array; offset: number; size: number }[]): Uint8Array {
  const out = new Uint8Array(INDEX_HEAD + entries.length * INDEX_ENTRY);
  const v = new DataView(out.buffer);
  out.set(INDEX_MAGIC, 0);
  v.setBigUint64(8, BigInt(covered), true);
  entries.forEach((e, i) => {
    const at = INDEX_HEAD + i * INDEX_ENTRY;
    out.set(e.digest, at);
    v.setBigUint64(at + 32, BigInt(e.offset), true);
    v.setUint32(at + 40, e.size, true);
  });
  return out;
}

/**
 * The entries an index file lists (in pack order) and the pack length it covers, or
 * undefined when it is not a whole, sane index for a pack of `packSize` bytes (then the
 * pack is scanned instead).
 */
export function readIndex(file: string, packSize: number): { entries: ScannedEntry[]; covered: number } | undefined {
  return withIndexHead(file, (fd, head, got) => {
    if (got >= 8 && equal(head.subarray(0, 8), INDEX2_MAGIC)) return readIndex2(fd, head, got, packSize);
    if (got < INDEX_HEAD || !equal(head.subarray(0, 8), INDEX_MAGIC)) return undefined;
    const covered = Number(new DataView(head.buffer).getBigUint64(8, true));
    if (covered > packSize) return undefined;
    const entries: ScannedEntry[] = [];
    const block = new Uint8Array(INDEX_ENTRY * 4096);
    const v = new DataView(block.buffer);
    let pos = INDEX_HEAD;
    for (;;) {
      const n = readFully(fd, block, pos);
      if (n % INDEX_ENTRY !== 0) return undefined;
      for (let at = 0; at < n; at += INDEX_ENTRY) {
        entries.push({ hex: toHex(block.subarray(at, at + 32)), offset: Number(v.getBigUint64(at + 32, true)), size: v.getUint32(at + 40, true) });
      }
      if (n < block.length) break;
      pos += n;
    }
    return saneEntries(entries, covered) ? { entries, covered } : undefined;
  });
}

/** Opens index `file` and reads its head (up to a version 2 head) for `body`; undefined if it cannot be opened. */
function withIndexHead<T>(file: string, body: (fd: number, head: Uint8Array, got: number) => T | undefined): T | undefined {
  return withFile(file, (fd) => {
    const head = new Uint8Array(INDEX2_HEAD);
    return body(fd, head, readFully(fd, head, 0));
  });
}

/** `body` with `file` open for reading; undefined if it cannot be opened (an index is only a shortcut). */
export function withFile<T>(file: string, body: (fd: number) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    return body(fd);
  } finally {
    closeSync(fd);
  }
}

/** In order, not overlapping, inside what the index covers: else the index is not ours. */
function saneEntries(entries: readonly ScannedEntry[], covered: number): boolean {
  let last = PACK_MAGIC.length;
  for (const { offset, size } of entries) {
    if (offset < last + ENTRY_HEAD || size === 0 || size > ENTRY_MAX || offset + size > covered) return false;
    last = offset + size;
  }
  return true;
}

/** What a version 2 index holds besides its entries: enough to ask it for one digest. */
export interface IndexSummary {
  readonly covered: number;
  readonly count: number;
  readonly fanout: Uint32Array;
  readonly bloom: Uint8Array;
  /** Where the sorted entries begin in the index file. */
  readonly entriesAt: number;
}

/** Version 2's head, fanout and filter, checked against each other and the file's length. */
function readSummary(fd: number, head: Uint8Array, got: number, packSize: number): IndexSummary | undefined {
  if (got < INDEX2_HEAD) return undefined;
  const hv = new DataView(head.buffer, head.byteOffset, INDEX2_HEAD);
  const covered = Number(hv.getBigUint64(8, true));
  const count = hv.getUint32(16, true);
  const bloomBytes = hv.getUint32(20, true);
  const entriesAt = INDEX2_HEAD + FANOUT_BYTES + bloomBytes;
  if (covered > packSize || bloomBytes < 8 || fstatSync(fd).size !== entriesAt + count * INDEX_ENTRY) return undefined;
  const tables = new Uint8Array(FANOUT_BYTES + bloomBytes);
  if (readFully(fd, tables, INDEX2_HEAD) !== tables.length) return undefined;
  const tv = new DataView(tables.buffer);
  const fanout = new Uint32Array(256);
  let prev = 0;
  for (let i = 0; i < 256; i++) {
    fanout[i] = tv.getUint32(i * 4, true);
    if (fanout[i]! < prev) return undefined;
    prev = fanout[i]!;
  }
  if (prev !== count) return undefined;
  return { covered, count, fanout, bloom: tables.subarray(FANOUT_BYTES), entriesAt };
}

function readIndex2(fd: number, head: Uint8Array, got: number, packSize: number): { entries: ScannedEntry[]; covered: number } | undefined {
  const summary = readSummary(fd, head, got, packSize);
  if (summary === undefined) return undefined;
  const raw = new Uint8Array(summary.count * INDEX_ENTRY);
  if (readFully(fd, raw, summary.entriesAt) !== raw.length) return undefined;
  const v = new DataView(raw.buffer);
  const entries: ScannedEntry[] = [];
  for (let at = 0, i = 0; at < raw.length; at += INDEX_ENTRY, i++) {
    const digest = raw.subarray(at, at + 32);
    // What a lookup relies on, checked here where every entry is read anyway (fsck, gc and
    // every reader of a pack not yet sealed come here): sorted by digest, each in its
    // fanout bucket, each in the filter. An index that fails is not taken at all.
    const b = digest[0]!;
    if (i < (b === 0 ? 0 : summary.fanout[b - 1]!) || i >= summary.fanout[b]!) return undefined;
    if (at > 0 && compareBytes(raw.subarray(at - INDEX_ENTRY, at - INDEX_ENTRY + 32), digest) >= 0) return undefined;
    if (!bloomHas(summary.bloom, bloomProbes(digest))) return undefined;
    entries.push({ hex: toHex(digest), offset: Number(v.getBigUint64(at + 32, true)), size: v.getUint32(at + 40, true) });
  }
  entries.sort((a, b) => a.offset - b.offset);
  return saneEntries(entries, summary.covered) ? { entries, covered: summary.covered } : undefined;
}

/** The fanout and filter of a version 2 index for a pack of `packSize` bytes; undefined for anything else. */
export function readIndexSummary(file: string, packSize: number): IndexSummary | undefined {
  return withIndexHead(file, (fd, head, got) => (got >= 8 && equal(head.subarray(0, 8), INDEX2_MAGIC) ? readSummary(fd, head, got, packSize) : undefined));
}

/**
 * Where `digest` is in the pack, asked of its version 2 index (`summary` read from
 * `file`): the filter first, then the one fanout bucket it would be in. Undefined if it is
 * not there, or the index is gone or does not hold a sane entry for it.
 */
export function findInIndex(file: string, summary: IndexSummary, digest: Uint8Array, probes = bloomProbes(digest)): { offset: number; size: number } | undefined {
  if (!bloomHas(summary.bloom, probes)) return undefined;
  const b = digest[0]!;
  const lo = b === 0 ? 0 : summary.fanout[b - 1]!;
  const hi = summary.fanout[b]!;
  if (hi === lo) return undefined;
  return withFile(file, (fd) => {
    const raw = new Uint8Array((hi - lo) * INDEX_ENTRY);
    if (readFully(fd, raw, summary.entriesAt + lo * INDEX_ENTRY) !== raw.length) return undefined;
    const v = new DataView(raw.buffer);
    for (let at = 0; at < raw.length; at += INDEX_ENTRY) {
      if (!equal(raw.subarray(at, at + 32), digest)) continue;
      const offset = Number(v.getBigUint64(at + 32, true));
      const size = v.getUint32(at + 40, true);
      if (offset < PACK_MAGIC.length + ENTRY_HEAD || size === 0 || size > ENTRY_MAX || offset + size > summary.covered) return undefined;
      return { offset, size };
    }
    return undefined;
  });
}

/** A version 2 index of `entries` (any order), covering the pack's first `covered` bytes. */
export function encodeIndex2(covered: number, entries: readonly { digest: Uint8Array; offset: number; size: number }[]): Uint8Array {
  const sorted = [...entries].sort((x, y) => compareBytes(x.digest, y.digest));
  const count = sorted.length;
  // A power of two (10 to 20 bits an entry), so a probe's bit is a mask, not a division.
  let bloomBytes = 8;
  while (bloomBytes * 8 < count * BLOOM_BITS_PER_ENTRY) bloomBytes *= 2;
  const entriesAt = INDEX2_HEAD + FANOUT_BYTES + bloomBytes;
  const out = new Uint8Array(entriesAt + count * INDEX_ENTRY);
  const v = new DataView(out.buffer);
  out.set(INDEX2_MAGIC, 0);
  v.setBigUint64(8, BigInt(covered), true);
  v.setUint32(16, count, true);
  v.setUint32(20, bloomBytes, true);
  const counts = new Uint32Array(256);
  for (const e of sorted) counts[e.digest[0]!]!++;
  let run = 0;
  for (let i = 0; i < 256; i++) {
    run += counts[i]!;
    v.setUint32(INDEX2_HEAD + i * 4, run, true);
  }
  const bloom = out.subarray(INDEX2_HEAD + FANOUT_BYTES, entriesAt);
  sorted.forEach((e, i) => {
    bloomAdd(bloom, e.digest);
    const at = entriesAt + i * INDEX_ENTRY;
    out.set(e.digest, at);
    v.setBigUint64(at + 32, BigInt(e.offset), true);
    v.setUint32(at + 40, e.size, true);
  });
  return out;
}

/** The filter's probes for `digest`: its own words 1 to 7, uniformly random as the digest is. */
export function bloomProbes(digest: Uint8Array): Uint32Array {
  const probes = new Uint32Array(BLOOM_PROBES);
  for (let i = 0; i < BLOOM_PROBES; i++) {
    const at = 4 + i * 4;
    probes[i] = (digest[at]! | (digest[at + 1]! << 8) | (digest[at + 2]! << 16) | (digest[at + 3]! << 24)) >>> 0;
  }
  return probes;
}

/** A probe's bit in a filter of `bits` bits: writers make `bits` a power of two, so a mask. */
function bitOf(probe: number, bits: number): number {
  return (bits & (bits - 1)) === 0 ? probe & (bits - 1) : probe % bits;
}

function bloomAdd(bloom: Uint8Array, digest: Uint8Array): void {
  const bits = bloom.length * 8;
  for (const p of bloomProbes(digest)) {
    const b = bitOf(p, bits);
    bloom[b >>> 3]! |= 1 << (b & 7);
  }
}

/** Whether the filter may hold the digest whose probes these are (no: it does not). */
export function bloomHas(bloom: Uint8Array, probes: Uint32Array): boolean {
  const bits = bloom.length * 8;
  for (let i = 0; i < probes.length; i++) {
    const b = bitOf(probes[i]!, bits);
    if ((bloom[b >>> 3]! & (1 << (b & 7))) === 0) return false;
  }
  return true;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Reads into `buf` from `pos` until it is full or the file ends; the bytes read. */
export function readFully(fd: number, buf: Uint8Array, pos: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
