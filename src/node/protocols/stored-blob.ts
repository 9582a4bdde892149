// A blob in the local disk store as the blob server reads it: the record's head and
// chunk table, and its outboard read from the record file through a FileReader, so a
// range of a large blob reads only the parents its slice needs (a 1 GiB blob has a
// 4 MiB outboard; a 1 MiB range needs a few KiB of it).

import { open, type FileHandle } from 'node:fs/promises';
import { FileReader } from '../../verify/bao/index.js';
import { UnexpectedEofError } from '../../verify/errors.js';
import type { ChunkRef, Digest } from '../../store/blob-service.js';
import type { DataDir } from '../../store/data-dir.js';
import type { FsLayout } from '../../store/fs-layout.js';
import { checkOutboardHeader, decodeHead, decodeTable, RECORD_HEAD_LEN } from '../../store/fs-record.js';

export interface StoredBlob {
  /** The content length the record (and its outboard's header) states. */
  readonly length: number;
  readonly chunks: readonly ChunkRef[];
  /** The outboard, header first, read on demand from the record file. */
  readonly outboard: FileReader;
  readonly layout: FsLayout;
  close(): Promise<void>;
}

async function readAt(fh: FileHandle, position: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const { bytesRead } = await fh.read(buf, got, n - got, position + got);
    if (bytesRead === 0) throw new UnexpectedEofError(position + got, n - got);
    got += bytesRead;
  }
  return buf;
}

/** The stored blob `digest`, or undefined when the store does not hold it whole. */
export async function openStoredBlob(data: DataDir, digest: Digest): Promise<StoredBlob | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(data.layout.blobPath(digest), 'r');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const head = decodeHead(digest, await readAt(fh, 0, Math.min(RECORD_HEAD_LEN, size)), size);
    const chunks = decodeTable(digest, head, await readAt(fh, head.tableOffset, head.tableLength));
    checkOutboardHeader(digest, head, await readAt(fh, head.outboardOffset, 8));
    return { length: head.size, chunks, outboard: new FileReader(fh, head.outboardOffset), layout: data.layout, close: () => fh.close() };
  } catch (err: unknown) {
    await fh.close();
    throw err;
  }
}
