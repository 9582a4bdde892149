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
// find them: magic, the pack length it covers, then [digest 32][data offset u64][size u32]
// per entry. It is written when the writer is done with the pack; a reader takes it for
// the prefix it covers and scans the rest, so an index is only ever a shortcut.

import { closeSync, openSync, readSync } from 'node:fs';
import { toHex } from '../verify/blake3/index.js';
import { MAXIMUM_MAX } from './fastcdc.js';

export const PACK_MAGIC = new TextEncoder().encode('castorP1');
export const INDEX_MAGIC = new TextEncoder().encode('castorI1');
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
 * The entries an index file lists and the pack length it covers, or undefined when it is
 * not a whole, sane index for a pack of `packSize` bytes (then the pack is scanned instead).
 */
export function readIndex(file: string, packSize: number): { entries: ScannedEntry[]; covered: number } | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = new Uint8Array(INDEX_HEAD);
    if (readFully(fd, head, 0) !== INDEX_HEAD || !equal(head.subarray(0, 8), INDEX_MAGIC)) return undefined;
    const covered = Number(new DataView(head.buffer).getBigUint64(8, true));
    if (covered > packSize) return undefined;
    const entries: ScannedEntry[] = [];
    const block = new Uint8Array(INDEX_ENTRY * 4096);
    const v = new DataView(block.buffer);
    let pos = INDEX_HEAD;
    let last = PACK_MAGIC.length;
    for (;;) {
      const n = readFully(fd, block, pos);
      if (n % INDEX_ENTRY !== 0) return undefined;
      for (let at = 0; at < n; at += INDEX_ENTRY) {
        const offset = Number(v.getBigUint64(at + 32, true));
        const size = v.getUint32(at + 40, true);
        // In order, not overlapping, inside what the index covers: else it is not ours.
        if (offset < last + ENTRY_HEAD || size === 0 || size > ENTRY_MAX || offset + size > covered) return undefined;
        last = offset + size;
        entries.push({ hex: toHex(block.subarray(at, at + 32)), offset, size });
      }
      if (n < block.length) break;
      pos += n;
    }
    return { entries, covered };
  } finally {
    closeSync(fd);
  }
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
