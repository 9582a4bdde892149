// A blob in the local disk store as the blob and stat servers read it: its record (size,
// chunk list, outboard) and a reader over its content at content offsets that opens a
// chunk file only when a read lands in it.

import { open, type FileHandle } from 'node:fs/promises';
import { decodeLength } from '../../verify/bao/index.js';
import { type BlobStat, type ChunkRef, type Digest } from '../../store/blob-service.js';
import { ChunkListReader } from '../../store/chunk-list-reader.js';
import type { DataDir } from '../../store/data-dir.js';
import { CastorError } from '../../verify/errors.js';

export interface StoredBlob {
  readonly stat: BlobStat;
  /** The content length the outboard's header states (what the slice will say). */
  readonly length: number;
  readonly reader: ChunkListReader;
  close(): Promise<void>;
}

/** The stored blob `digest`, or undefined when the store does not hold it whole. */
export async function openStoredBlob(data: DataDir, digest: Digest): Promise<StoredBlob | undefined> {
  const stat = await data.blobs.stat(digest);
  if (stat === undefined) return undefined;
  const opener = async (c: ChunkRef): Promise<FileHandle> => {
    const file = data.layout.chunkPath(c.digest);
    const fh = await open(file, 'r');
    const { size } = await fh.stat();
    if (size !== c.size) {
      await fh.close();
      throw new CastorError('CORRUPT_CHUNK', `chunk file ${file} is ${size} bytes, the record says ${c.size}`, file);
    }
    return fh;
  };
  const reader = new ChunkListReader(stat.chunks, opener);
  return { stat, length: decodeLength(stat.outboard.subarray(0, 8)), reader, close: () => reader.close() };
}
