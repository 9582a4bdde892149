// Where an FsBlobService keeps things in its data dir: chunks and blob records sharded by
// the first byte of their digest (git's objects/ab/cdef…), and tmp/ for anything unfinished.

import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { toHex } from '../verify/blake3/index.js';

export const CHUNKS_DIR = 'chunks';
export const BLOBS_DIR = 'blobs';
export const TMP_DIR = 'tmp';
/** Staging dirs of live writers start with this; anything else in tmp/ is not ours to judge. */
export const STAGING_PREFIX = 'w-';

export class FsLayout {
  readonly root: string;
  readonly chunks: string;
  readonly blobs: string;
  readonly tmp: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.chunks = path.join(this.root, CHUNKS_DIR);
    this.blobs = path.join(this.root, BLOBS_DIR);
    this.tmp = path.join(this.root, TMP_DIR);
  }

  chunkPath(digest: Uint8Array | string): string {
    return sharded(this.chunks, digest);
  }

  blobPath(digest: Uint8Array | string): string {
    return sharded(this.blobs, digest);
  }

  /** A name no other writer, in this process or another, will pick. */
  newStagingDir(): string {
    return path.join(this.tmp, `${STAGING_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
  }
}

function sharded(dir: string, digest: Uint8Array | string): string {
  const hex = typeof digest === 'string' ? digest : toHex(digest);
  return path.join(dir, hex.slice(0, 2), hex.slice(2));
}
