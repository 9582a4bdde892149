// Canonical protobuf encoding of castore messages, decoding, and the Directory
// digest: BLAKE3 of the canonical encoding, as tvix computes it.

import { blake3 } from '../../verify/index.js';
import { type Digest } from '../digest.js';
import * as pb from './castore-pb.js';
import { InvalidDirectoryError } from './errors.js';
import { type Directory, type DirectoryNode, type FileNode, type Node, type SymlinkNode, MAX_UINT64 } from './model.js';
import { validateDirectory, validateNode, type ValidateNodeOptions } from './validate.js';

// The encoder is written out rather than taken from the protons output because
// digests are only as stable as these bytes: a generator upgrade must not be able
// to change them. Canonical form is what prost writes: fields in field-number
// order, proto3 defaults (empty bytes, 0, false) omitted, repeated messages in
// list order. test/store/castore checks protons writes the same bytes.

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const TAG_1_LEN = 0x0a;
const TAG_2_LEN = 0x12;
const TAG_3_LEN = 0x1a;
const TAG_3_VARINT = 0x18;
const TAG_4_VARINT = 0x20;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++; }
  return len;
}

function uint64Length(n: bigint, name: Uint8Array): number {
  if (typeof n !== 'bigint' || n < 0n || n > MAX_UINT64) {
    throw new InvalidDirectoryError('SIZE_OUT_OF_RANGE', `size ${String(n)} is not a uint64`, name);
  }
  let len = 1;
  while (n >= 0x80n) { n >>= 7n; len++; }
  return len;
}

const bytesField = (b: Uint8Array): number => (b.length === 0 ? 0 : 1 + varintLength(b.length) + b.length);
const uint64Field = (n: bigint, name: Uint8Array): number => (n === 0n ? 0 : 1 + uint64Length(n, name));

function directoryNodeLength(n: DirectoryNode): number {
  return bytesField(n.name) + bytesField(n.digest) + uint64Field(n.size, n.name);
}
function fileNodeLength(n: FileNode): number {
  return bytesField(n.name) + bytesField(n.digest) + uint64Field(n.size, n.name) + (n.executable ? 2 : 0);
}
function symlinkNodeLength(n: SymlinkNode): number {
  return bytesField(n.name) + bytesField(n.target);
}

class Writer {
  readonly buf: Uint8Array;
  pos = 0;
  constructor(length: number) { this.buf = new Uint8Array(length); }
  byte(b: number): void { this.buf[this.pos++] = b; }
  varint(n: number): void {
    while (n >= 0x80) { this.buf[this.pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.buf[this.pos++] = n;
  }
  uint64(n: bigint): void {
    while (n >= 0x80n) { this.buf[this.pos++] = Number(n & 0x7fn) | 0x80; n >>= 7n; }
    this.buf[this.pos++] = Number(n);
  }
  bytesField(tag: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.byte(tag);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  uint64Field(tag: number, n: bigint): void {
    if (n === 0n) return;
    this.byte(tag);
    this.uint64(n);
  }
  directoryNode(n: DirectoryNode): void {
    this.bytesField(TAG_1_LEN, n.name);
    this.bytesField(TAG_2_LEN, n.digest);
    this.uint64Field(TAG_3_VARINT, n.size);
  }
  fileNode(n: FileNode): void {
    this.bytesField(TAG_1_LEN, n.name);
    this.bytesField(TAG_2_LEN, n.digest);
    this.uint64Field(TAG_3_VARINT, n.size);
    if (n.executable) { this.byte(TAG_4_VARINT); this.byte(1); }
  }
  symlinkNode(n: SymlinkNode): void {
    this.bytesField(TAG_1_LEN, n.name);
    this.bytesField(TAG_2_LEN, n.target);
  }
  /** One embedded message: tag, length, then `body` writes exactly `length` bytes. */
  embedded(tag: number, length: number, body: () => void): void {
    this.byte(tag);
    this.varint(length);
    const start = this.pos;
    body();
    if (this.pos - start !== length) throw new Error(`castore encoder wrote ${this.pos - start} bytes, computed ${length}`);
  }
}

/**
 * The canonical encoding of `dir`, exactly as it is written (lists are not
 * re-sorted; validate first if the order is not known to be right).
 */
export function encodeDirectory(dir: Directory): Uint8Array {
  const dirLens = dir.directories.map(directoryNodeLength);
  const fileLens = dir.files.map(fileNodeLength);
  const linkLens = dir.symlinks.map(symlinkNodeLength);
  let total = 0;
  for (const len of [...dirLens, ...fileLens, ...linkLens]) total += 1 + varintLength(len) + len;
  const w = new Writer(total);
  dir.directories.forEach((n, i) => w.embedded(TAG_1_LEN, dirLens[i]!, () => w.directoryNode(n)));
  dir.files.forEach((n, i) => w.embedded(TAG_2_LEN, fileLens[i]!, () => w.fileNode(n)));
  dir.symlinks.forEach((n, i) => w.embedded(TAG_3_LEN, linkLens[i]!, () => w.symlinkNode(n)));
  return w.buf;
}

/** The canonical encoding of a Node (the oneof wrapper around one node). */
export function encodeNode(node: Node): Uint8Array {
  let length: number;
  let tag: number;
  let write: (w: Writer) => void;
  if ('directory' in node) {
    const n = node.directory;
    [tag, length, write] = [TAG_1_LEN, directoryNodeLength(n), (w) => w.directoryNode(n)];
  } else if ('file' in node) {
    const n = node.file;
    [tag, length, write] = [TAG_2_LEN, fileNodeLength(n), (w) => w.fileNode(n)];
  } else {
    const n = node.symlink;
    [tag, length, write] = [TAG_3_LEN, symlinkNodeLength(n), (w) => w.symlinkNode(n)];
  }
  const w = new Writer(1 + varintLength(length) + length);
  w.embedded(tag, length, () => write(w));
  return w.buf;
}

/**
 * BLAKE3 of the canonical encoding: the name a Directory has in every castore
 * store and in the DirectoryNode that points at it. Does not validate.
 */
export function directoryDigest(dir: Directory): Digest {
  return blake3(encodeDirectory(dir)) as Digest;
}

function malformed(what: string, err: unknown): InvalidDirectoryError {
  const why = err instanceof Error ? err.message : String(err);
  return new InvalidDirectoryError('MALFORMED_PROTOBUF', `${what} does not decode: ${why}`, undefined, { cause: err });
}

/**
 * Decodes and validates a Directory. Unknown fields are skipped, as prost does;
 * the digest of the result is that of its canonical re-encoding, which equals
 * BLAKE3(bytes) only if `bytes` were canonical. Byte fields are views into `bytes`.
 */
export function decodeDirectory(bytes: Uint8Array): Directory {
  let dir: Directory;
  try {
    dir = pb.Directory.decode(bytes);
  } catch (err: unknown) {
    throw malformed('Directory', err);
  }
  validateDirectory(dir);
  return dir;
}

/** Decodes and validates a Node; `anonymous` as in validateNode. */
export function decodeNode(bytes: Uint8Array, options: ValidateNodeOptions = {}): Node {
  let decoded: pb.Node;
  try {
    decoded = pb.Node.decode(bytes);
  } catch (err: unknown) {
    throw malformed('Node', err);
  }
  // The generated type has three optional fields; the model is a union of one.
  const node: Node | undefined = decoded.directory !== undefined ? { directory: decoded.directory }
    : decoded.file !== undefined ? { file: decoded.file }
      : decoded.symlink !== undefined ? { symlink: decoded.symlink } : undefined;
  if (node === undefined) throw new InvalidDirectoryError('NO_NODE_SET', 'node is none of directory, file or symlink');
  validateNode(node, options);
  return node;
}
