// Where the disk store keeps things in its data dir: chunks, blob records and Directories
// sharded by the first byte of their digest (git's objects/ab/cdef…), tmp/ for anything
// unfinished, packs/ of chunks (every chunk is packed; chunks/ is still read for older
// stores), and the small state other layers keep beside them (pins, trust, config).

import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { toHex } from '../../verify/index.js';

export const CHUNKS_DIR = 'chunks';
export const BLOBS_DIR = 'blobs';
export const DIRS_DIR = 'dirs';
export const TMP_DIR = 'tmp';
export const PINS_DIR = 'pins';
export const QUARANTINE_DIR = 'quarantine';
export const TRUST_DIR = 'trust';
/** Blobs being downloaded: one dir per digest (see partial-blob.ts). */
export const PARTIAL_DIR = 'partial';
/** Chunks appended to pack files, one writer per thread (see packs/pack-format.ts). */
export const PACKS_DIR = 'packs';
export const CONFIG_FILE = 'config.json';

export class FsLayout {
  readonly root: string;
  readonly chunks: string;
  readonly blobs: string;
  readonly dirs: string;
  readonly tmp: string;
  readonly pins: string;
  readonly quarantine: string;
  readonly trust: string;
  readonly partial: string;
  readonly packs: string;
  readonly config: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.chunks = path.join(this.root, CHUNKS_DIR);
    this.blobs = path.join(this.root, BLOBS_DIR);
    this.dirs = path.join(this.root, DIRS_DIR);
    this.tmp = path.join(this.root, TMP_DIR);
    this.pins = path.join(this.root, PINS_DIR);
    this.quarantine = path.join(this.root, QUARANTINE_DIR);
    this.trust = path.join(this.root, TRUST_DIR);
    this.partial = path.join(this.root, PARTIAL_DIR);
    this.packs = path.join(this.root, PACKS_DIR);
    this.config = path.join(this.root, CONFIG_FILE);
  }

  chunkPath(digest: Uint8Array | string): string {
    return sharded(this.chunks, digest);
  }

  blobPath(digest: Uint8Array | string): string {
    return sharded(this.blobs, digest);
  }

  dirPath(digest: Uint8Array | string): string {
    return sharded(this.dirs, digest);
  }

  /** The dir of the partial (download under way) of a blob: not sharded, there are few. */
  partialPath(digest: Uint8Array | string): string {
    return path.join(this.partial, typeof digest === 'string' ? digest : toHex(digest));
  }

  /** A fresh path in tmp/ starting with `prefix`, unique across processes. */
  newTempPath(prefix: string): string {
    return path.join(this.tmp, `${prefix}${process.pid}-${randomBytes(8).toString('hex')}`);
  }
}

/** Joined by hand: `dir` is already resolved, and path.join's normalizing was a few percent of storing a small file (perf). */
function sharded(dir: string, digest: Uint8Array | string): string {
  const hex = typeof digest === 'string' ? digest : toHex(digest);
  return `${dir}${dir.endsWith(path.sep) ? '' : path.sep}${hex.slice(0, 2)}${path.sep}${hex.slice(2)}`;
}
