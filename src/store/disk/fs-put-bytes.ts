// Small blobs into the disk store in one synchronous step. A tree of small files is
// bound by per-file overhead, not bytes: the streaming writer's chunker, hasher and
// thread-pool round trips cost about 1 ms a file (measured when it also had a staging dir). Here content
// already in memory is hashed once (a blob of one chunk is its own chunk, so one
// digest serves both). A blob of a single group needs no record and is appended to this
// thread's pack (pack-format.ts): one write, no file created. A larger blob's new chunks
// are appended there too, then its record is published as the writer does (temp file in
// tmp/, then rename), chunks durable first.

import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Hasher, toHex } from '../../verify/index.js';
import { encodeLength, groupBytes, withHeader } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type ChunkRef, type Digest } from '../blob-service.js';
import { moveIntoSync } from '../fs/index.js';
import { asDigest } from '../digest.js';
import { chunkBuffer, type ChunkerOptions } from '../chunking/index.js';
import { errnoOf, fsError } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { chunkDigest, encodeRecord } from './fs-record.js';
import { chunkKept, DEDUP_REFRESH_MS, newDedup, touch } from './chunk-put.js';
import { isOneGroupBlob } from './one-group-blob.js';
import type { PackEntry } from './packs/index.js';
import { packIndex } from './packs/index.js';
import { packWriter } from './packs/index.js';

/** Content up to this size may be put in one step; larger blobs go through the streaming writer. */
export const PUT_BYTES_LIMIT = 4 << 20;

export interface PutResult {
  readonly digest: Digest;
  /** Bytes of chunks this put added (0 when the blob or all its chunks were there). */
  readonly newBytes: number;
  /** Where a blob small enough to be packed is (new or found). */
  readonly packed?: PackEntry;
  /** The chunks this put appended to this thread's pack, in order (for put-file-pool's index of a worker's packs). */
  readonly appended?: readonly Appended[];
}

export interface Appended {
  readonly digest: Uint8Array;
  readonly entry: PackEntry;
}

/**
 * Stores `bytes` as one blob; see the file comment. `durable` fsyncs every file and
 * directory touched. Temp files go in `staging` (a dir in tmp/, made if missing) when
 * given, else in tmp/ itself.
 */
export function putBytesSync(layout: FsLayout, chunker: ChunkerOptions, bytes: Uint8Array, durable: boolean, staging?: string): PutResult {
  const tmp = staging ?? layout.tmp;
  const size = bytes.length;
  let digest: Digest;
  let outboard: Uint8Array;
  if (size <= groupBytes(BLOB_GROUP_LOG)) {
    // One group: the outboard is the length header alone.
    digest = chunkDigest(bytes);
    outboard = encodeLength(size);
  } else {
    const r = new Hasher({ groupLog: BLOB_GROUP_LOG }).update(bytes).finalize();
    digest = asDigest(r.hash);
    outboard = withHeader(size, r.nodes!);
  }
  const pieces = size === 0 ? [] : chunkBuffer(bytes, chunker);
  if (isOneGroupBlob(size, pieces.length)) {
    // Its own chunk, kept with no record (one-group-blob.ts), appended to this thread's
    // pack (pack-format.ts): no file to create at all.
    const hex = toHex(digest);
    const known = packIndex(layout).lookupEvery(hex, DEDUP_REFRESH_MS);
    // Dedup: the pack's mtime set to now, as for a chunk file (refresh), so a gc about to
    // rewrite that pack sees it young and keeps it whole; if the pack is gone (gc rewrote
    // it), the blob is appended again. A durable put makes that pack durable first (it
    // may be another writer's, not synced yet).
    if (known !== undefined && touch(known.pack)) {
      if (durable) {
        packWriter(layout).syncFor(known.pack);
        packWriter(layout).syncPending();
      }
      return { digest, newBytes: 0, packed: known };
    }
    const packed = packWriter(layout).append(digest, hex, bytes, durable);
    return { digest, newBytes: size, packed, appended: [{ digest, entry: packed }] };
  }
  const record = layout.blobPath(digest);
  // Refreshed, not only checked: a gc running now spares recent records (see refresh).
  if (touch(record)) return { digest, newBytes: 0 };

  const chunks: ChunkRef[] = [];
  const appended: Appended[] = [];
  const dedup = newDedup(durable);
  const writer = packWriter(layout);
  let newBytes = 0;
  for (const c of pieces) {
    const d = pieces.length === 1 ? digest : chunkDigest(c.data);
    chunks.push({ digest: d, size: c.length });
    const hex = toHex(d);
    if (chunkKept(layout, hex, c.length, dedup)) continue;
    appended.push({ digest: d, entry: writer.append(d, hex, c.data, durable ? 'later' : false) });
    newBytes += c.length;
  }
  if (durable) writer.syncPending();
  const dirty = new Set<string>();
  publish(tmp, record, encodeRecord(size, chunks, outboard), durable, dirty);
  if (durable) for (const d of dirty) syncDirSync(d);
  return { digest, newBytes, appended };
}

// pid + a per-process random tag + a counter: unique even against leftovers of a dead process with the same pid.
const TAG = `s-${process.pid}-${randomBytes(6).toString('hex')}-`;
let counter = 0;

/**
 * Writes `bytes` to a fresh temp file in `tmp` and renames it to `file`, creating the shard
 * dir if needed (and `tmp`, when it is a staging dir that is not there yet or was cleaned
 * away as idle).
 */
function publish(tmp: string, file: string, bytes: Uint8Array, durable: boolean, dirty: Set<string>): void {
  const temp = `${tmp}${path.sep}${TAG}${(counter++).toString(36)}`;
  let fd: number | undefined;
  try {
    fd = openTemp(temp);
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at, at);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    for (const d of moveIntoSync(temp, file)) dirty.add(d);
  } catch (err: unknown) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* reporting the first failure */ }
    try { unlinkSync(temp); } catch { /* gone already, or left for cleanTemp */ }
    throw fsError(err, file, 'writing');
  }
}

function openTemp(temp: string): number {
  try {
    return openSync(temp, 'wx');
  } catch (err: unknown) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  // Its dir is missing: a staging dir not made yet. tmp/ itself missing fails again below.
  try {
    mkdirSync(path.dirname(temp));
  } catch (err: unknown) {
    if (errnoOf(err) !== 'EEXIST' && errnoOf(err) !== 'ENOENT') throw err;
  }
  return openSync(temp, 'wx');
}

function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err: unknown) {
    throw fsError(err, dir, 'syncing');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
