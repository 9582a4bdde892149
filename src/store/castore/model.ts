// The castore data model (tvix castore.proto): Directory and its three kinds of
// named nodes, with names and targets as raw bytes and sizes as uint64 bigints.

/** Linux's limit on one path component, and tvix's MAX_NAME_LEN. */
export const MAX_NAME_LENGTH = 255;
/** Linux's limit on a symlink target, and tvix's MAX_TARGET_LEN. */
export const MAX_TARGET_LENGTH = 4095;
export const MAX_UINT64 = (1n << 64n) - 1n;

// Names and targets are bytes, not strings: a Unix file name need not be UTF-8,
// and decoding it would change the bytes, and with them the digest.

/** A child directory: the digest of its Directory message and that Directory's size. */
export interface DirectoryNode {
  readonly name: Uint8Array;
  readonly digest: Uint8Array;
  /** `directorySize` of the Directory `digest` names; used for inode numbering. */
  readonly size: bigint;
}

/** A regular file: the BLAKE3 digest of its contents and their length in bytes. */
export interface FileNode {
  readonly name: Uint8Array;
  readonly digest: Uint8Array;
  readonly size: bigint;
  readonly executable: boolean;
}

export interface SymlinkNode {
  readonly name: Uint8Array;
  readonly target: Uint8Array;
}

/**
 * Each list sorted by name (bytewise), names unique across all three lists.
 * `validateDirectory` checks this; the canonical encoding does not reorder.
 */
export interface Directory {
  readonly directories: readonly DirectoryNode[];
  readonly files: readonly FileNode[];
  readonly symlinks: readonly SymlinkNode[];
}

/** castore.proto's `Node` oneof: a root that is a file or symlink, or the top of a tree. */
export type Node =
  | { readonly directory: DirectoryNode }
  | { readonly file: FileNode }
  | { readonly symlink: SymlinkNode };

export const EMPTY_DIRECTORY: Directory = Object.freeze({
  directories: Object.freeze([]),
  files: Object.freeze([]),
  symlinks: Object.freeze([]),
});

/** Bytewise order, as Rust's `[u8]` Ord and tvix's sorting rule use. */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

const byName = (a: { name: Uint8Array }, b: { name: Uint8Array }): number => compareNames(a.name, b.name);

/**
 * Builds a Directory from nodes in any order: splits them into the three lists
 * and sorts each by name. Does not validate (duplicates stay, for
 * `validateDirectory` to report).
 */
export function directoryFrom(nodes: Iterable<Node>): Directory {
  const directories: DirectoryNode[] = [];
  const files: FileNode[] = [];
  const symlinks: SymlinkNode[] = [];
  for (const node of nodes) {
    if ('directory' in node) directories.push(node.directory);
    else if ('file' in node) files.push(node.file);
    else symlinks.push(node.symlink);
  }
  return { directories: directories.sort(byName), files: files.sort(byName), symlinks: symlinks.sort(byName) };
}

/** All nodes of a Directory in name order across the three lists, as a tvix Directory iterates them. */
export function nodesOf(dir: Directory): Node[] {
  const all: Node[] = [
    ...dir.directories.map((directory) => ({ directory })),
    ...dir.files.map((file) => ({ file })),
    ...dir.symlinks.map((symlink) => ({ symlink })),
  ];
  return all.sort((a, b) => compareNames(nodeName(a), nodeName(b)));
}

export function nodeName(node: Node): Uint8Array {
  if ('directory' in node) return node.directory.name;
  if ('file' in node) return node.file.name;
  return node.symlink.name;
}

/**
 * The `size` a DirectoryNode pointing at `dir` must carry: one per file and
 * symlink, and for each child directory one plus its own size field (the
 * castore.proto definition, tvix's proto::Directory::size and castore-go's
 * Size). May exceed MAX_UINT64 for a hostile Directory; validation rejects that.
 */
export function directorySize(dir: Directory): bigint {
  let size = BigInt(dir.files.length + dir.symlinks.length + dir.directories.length);
  for (const d of dir.directories) size += d.size;
  return size;
}
