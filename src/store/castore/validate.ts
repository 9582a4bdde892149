// Validation of Directories and Nodes by tvix castore's rules: what any castore
// implementation must refuse, so a tree that passes here passes there too.

import { DIGEST_LENGTH } from '../digest.js';
import { InvalidDirectoryError } from './errors.js';
import {
  type Directory, type DirectoryNode, type FileNode, type Node, type SymlinkNode,
  MAX_NAME_LENGTH, MAX_TARGET_LENGTH, MAX_UINT64, compareNames, directorySize,
} from './model.js';

const SLASH = 0x2f;
const DOT = 0x2e;

/** A path component: non-empty, not `.` or `..`, at most 255 bytes, no `/` or NUL. */
export function validateName(name: Uint8Array): void {
  // The same order of checks as tvix's validate_name, so the same reason is reported.
  if (name.length === 0) throw new InvalidDirectoryError('EMPTY_NAME', 'name is empty', name);
  if ((name.length === 1 && name[0] === DOT) || (name.length === 2 && name[0] === DOT && name[1] === DOT)) {
    throw new InvalidDirectoryError('DOT_NAME', 'name is "." or ".."', name);
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidDirectoryError('NAME_TOO_LONG', `name is ${name.length} bytes, over ${MAX_NAME_LENGTH}`, name);
  }
  if (name.includes(0)) throw new InvalidDirectoryError('NAME_HAS_NUL', 'name contains a NUL byte', name);
  if (name.includes(SLASH)) throw new InvalidDirectoryError('NAME_HAS_SLASH', 'name contains "/"', name);
}

function checkDigest(digest: Uint8Array, name: Uint8Array): void {
  if (digest.length !== DIGEST_LENGTH) {
    throw new InvalidDirectoryError('DIGEST_LENGTH', `digest is ${digest.length} bytes, not ${DIGEST_LENGTH}`, name);
  }
}

function checkSize(size: bigint, name: Uint8Array): void {
  if (typeof size !== 'bigint' || size < 0n || size > MAX_UINT64) {
    throw new InvalidDirectoryError('SIZE_OUT_OF_RANGE', `size ${String(size)} is not a uint64`, name);
  }
}

function checkTarget(target: Uint8Array, name: Uint8Array): void {
  if (target.length === 0) throw new InvalidDirectoryError('EMPTY_SYMLINK_TARGET', 'symlink target is empty', name);
  if (target.length > MAX_TARGET_LENGTH) {
    throw new InvalidDirectoryError('SYMLINK_TARGET_TOO_LONG', `symlink target is ${target.length} bytes, over ${MAX_TARGET_LENGTH}`, name);
  }
  if (target.includes(0)) throw new InvalidDirectoryError('SYMLINK_TARGET_HAS_NUL', 'symlink target contains a NUL byte', name);
}

function checkDirectoryNode(n: DirectoryNode): void {
  checkDigest(n.digest, n.name);
  checkSize(n.size, n.name);
}

function checkFileNode(n: FileNode): void {
  checkDigest(n.digest, n.name);
  checkSize(n.size, n.name);
}

function checkSymlinkNode(n: SymlinkNode): void {
  checkTarget(n.target, n.name);
}

function checkList<T extends { name: Uint8Array }>(list: readonly T[], check: (entry: T) => void, seen: Set<string>): void {
  let previous: Uint8Array | undefined;
  for (const entry of list) {
    validateName(entry.name);
    check(entry);
    if (previous !== undefined) {
      const order = compareNames(entry.name, previous);
      if (order < 0) throw new InvalidDirectoryError('WRONG_SORTING', 'names are not in ascending bytewise order', entry.name);
      if (order === 0) throw new InvalidDirectoryError('DUPLICATE_NAME', 'name appears twice', entry.name);
    }
    previous = entry.name;
    // latin1 maps each byte to one code unit, so distinct names stay distinct keys.
    const key = Buffer.from(entry.name.buffer, entry.name.byteOffset, entry.name.byteLength).toString('latin1');
    if (seen.has(key)) throw new InvalidDirectoryError('DUPLICATE_NAME', 'name appears in more than one list', entry.name);
    seen.add(key);
  }
}

/**
 * Throws InvalidDirectoryError unless `dir` is a valid castore Directory: valid
 * names, each list sorted, names unique across all three lists, 32-byte digests,
 * valid symlink targets, sizes that are uint64s, and a total size within uint64.
 */
export function validateDirectory(dir: Directory): void {
  const seen = new Set<string>();
  checkList(dir.directories, checkDirectoryNode, seen);
  checkList(dir.files, checkFileNode, seen);
  checkList(dir.symlinks, checkSymlinkNode, seen);
  if (directorySize(dir) > MAX_UINT64) {
    throw new InvalidDirectoryError('SIZE_OVERFLOW', 'the sum of entries and child sizes exceeds u64');
  }
}

export interface ValidateNodeOptions {
  /**
   * A root Node (what an index entry or a path points at) has no name of its
   * own and must carry an empty one, as tvix's try_into_anonymous_node requires.
   */
  readonly anonymous?: boolean;
}

/** Throws InvalidDirectoryError unless `node` is a valid named (or, with `anonymous`, unnamed) Node. */
export function validateNode(node: Node, options: ValidateNodeOptions = {}): void {
  let name: Uint8Array;
  let check: () => void;
  if ('directory' in node && node.directory !== undefined) {
    name = node.directory.name;
    check = () => checkDirectoryNode(node.directory);
  } else if ('file' in node && node.file !== undefined) {
    name = node.file.name;
    check = () => checkFileNode(node.file);
  } else if ('symlink' in node && node.symlink !== undefined) {
    name = node.symlink.name;
    check = () => checkSymlinkNode(node.symlink);
  } else {
    throw new InvalidDirectoryError('NO_NODE_SET', 'node is none of directory, file or symlink');
  }
  if (options.anonymous === true) {
    if (name.length !== 0) throw new InvalidDirectoryError('NAME_IN_ANONYMOUS_NODE', 'a root node must have an empty name', name);
  } else {
    validateName(name);
  }
  check();
}
