// A blob of at most one group (16 KiB) that FastCDC leaves whole is its own chunk: BLAKE3
// of the content is both digests, its chunk table names only itself and its outboard is the
// length header alone. So the disk store keeps such a blob as the chunk file with no record
// (fs-put-bytes.ts packs it: pack-format.ts): a tree of small files then creates no file
// per file at all. Every reader that finds no record asks here.
//
// Any chunk file of at most one group is a blob under its own name, whichever blob it was
// cut from: its bytes hash to that name, which every read checks.

import { stat } from 'node:fs/promises';
import { encodeLength, groupBytes } from '../../verify/index.js';
import { toHex } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type ChunkRef, type Digest } from '../blob-service.js';
import { fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import type { RecordHead } from './fs-record.js';
import { packIndex } from './packs/index.js';

/** The largest blob kept without a record: one group of the store's outboard. */
export const ONE_GROUP_MAX = groupBytes(BLOB_GROUP_LOG);

/** Whether a blob of `size` cut into `chunkCount` chunks is kept as its chunk alone. */
export function isOneGroupBlob(size: number, chunkCount: number): boolean {
  return chunkCount === 1 && size > 0 && size <= ONE_GROUP_MAX;
}

/**
 * The size of blob `digest` kept as a chunk alone, packed (pack-format.ts) or as a chunk
 * file: undefined when neither is there, or the chunk file is larger than a group (a chunk
 * of a larger blob, not a blob by itself here).
 */
export async function oneGroupBlobSize(layout: FsLayout, digest: Digest): Promise<number | undefined> {
  // A packed chunk of a larger blob is not a blob by itself here, as a chunk file is not.
  const packed = packIndex(layout).lookupFresh(toHex(digest));
  if (packed !== undefined && packed.size <= ONE_GROUP_MAX) return packed.size;
  const file = layout.chunkPath(digest);
  try {
    const st = await stat(file);
    return st.isFile() && st.size > 0 && st.size <= ONE_GROUP_MAX ? st.size : undefined;
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw fsError(err, file, 'checking');
  }
}

/** What the record of a one-group blob of `size` would hold. */
export interface OneGroupRecord {
  readonly head: RecordHead;
  readonly chunks: ChunkRef[];
  /** The outboard with its header: the header alone, one group has no parents. */
  readonly outboard: Uint8Array;
}

export function oneGroupRecord(digest: Digest, size: number): OneGroupRecord {
  return {
    // No record file: offsets and length 0, the head only carries the size and count.
    head: { size, chunkCount: 1, tableOffset: 0, tableLength: 0, outboardOffset: 0, recordLength: 0 },
    chunks: [{ digest, size }],
    outboard: encodeLength(size),
  };
}
