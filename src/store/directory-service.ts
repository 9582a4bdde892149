// DirectoryService: where castore Directories are kept by digest, its contract,
// and a base class that enforces the contract for any byte-keyed backend.

import { CastorError } from '../verify/index.js';
import { blake3 } from '../verify/index.js';
import { type Directory, type DirectoryNode, decodeDirectory, directorySize, encodeDirectory, showName, validateDirectory } from './castore/index.js';
import { type Digest, asDigest, digestEquals, formatDigest } from './digest.js';

/**
 * Directories by digest. The store is always closed under references: a
 * Directory is accepted only once every child Directory it names is present,
 * so whatever `get` finds can be walked to the leaves.
 */
export interface DirectoryService {
  /**
   * Validates `dir`, checks that each child Directory is present with the size
   * its DirectoryNode claims, stores it, and returns its digest. Throws
   * InvalidDirectoryError, MissingChildError or ChildSizeMismatchError and
   * stores nothing if any check fails. Putting a present Directory again is a no-op.
   */
  put(dir: Directory): Promise<Digest>;
  /** The Directory named `digest`, or undefined if it is absent (absence is not an error). */
  get(digest: Digest): Promise<Directory | undefined>;
  /**
   * The Directory `root` and everything below it, breadth-first from the root,
   * each Directory once (a subtree named twice is yielded the first time).
   * Each is checked against the digest and size its parent names before it is
   * yielded. Yields nothing if `root` is absent.
   */
  getRecursive(root: Digest): AsyncIterable<Directory>;
}

/** A Directory names a child Directory the store does not hold. */
export class MissingChildError extends CastorError {
  readonly parent: Digest | undefined;
  readonly childName: Uint8Array;
  readonly child: Digest;
  constructor(parent: Digest | undefined, childName: Uint8Array, child: Digest) {
    super('MISSING_CHILD', `child directory ${showName(childName)} (${formatDigest(child)}) is not in the store${parent === undefined ? '' : ` (parent ${formatDigest(parent)})`}`, child);
    this.parent = parent;
    this.childName = childName;
    this.child = child;
  }
}

/** A DirectoryNode's size differs from the size of the Directory it names. */
export class ChildSizeMismatchError extends CastorError {
  readonly childName: Uint8Array;
  readonly child: Digest;
  readonly claimed: bigint;
  readonly actual: bigint;
  constructor(childName: Uint8Array, child: Digest, claimed: bigint, actual: bigint) {
    super('SIZE_MISMATCH', `child directory ${showName(childName)} (${formatDigest(child)}) has size ${actual}, its DirectoryNode says ${claimed}`, claimed);
    this.childName = childName;
    this.child = child;
    this.claimed = claimed;
    this.actual = actual;
  }
}

/** Stored bytes do not hash to the digest they are stored under: the backend is corrupt. */
export class DirectoryDigestMismatchError extends CastorError {
  readonly expected: Digest;
  readonly actual: Digest;
  constructor(expected: Digest, actual: Digest) {
    super('HASH_MISMATCH', `directory stored as ${formatDigest(expected)} hashes to ${formatDigest(actual)}`, actual);
    this.expected = expected;
    this.actual = actual;
  }
}

/** Directory sizes remembered by one service (see #sizes): a few MiB at most. */
const SIZE_CACHE = 16_384;

interface Edge {
  readonly parent: Digest;
  readonly node: DirectoryNode;
}

/**
 * The contract, once, for backends that keep canonical encodings by digest:
 * the public methods validate and verify, and call the implementor's `_read`
 * and `_write`. Everything read back is hashed and checked, so a corrupt or
 * altered backend surfaces as DirectoryDigestMismatchError, never as a tree.
 */
export abstract class AbstractDirectoryService implements DirectoryService {
  /** The bytes stored under `digest`, or undefined. The caller may keep and mutate them. */
  protected abstract _read(digest: Digest): Promise<Uint8Array | undefined>;
  /** Stores canonical `bytes` under `digest`; called only after every check passed. */
  protected abstract _write(digest: Digest, bytes: Uint8Array): Promise<void>;
  /** Whether `digest` is stored; a backend may answer this without reading. */
  protected async _has(digest: Digest): Promise<boolean> {
    return (await this._read(digest)) !== undefined;
  }

  async put(dir: Directory): Promise<Digest> {
    validateDirectory(dir);
    const bytes = encodeDirectory(dir);
    const digest = asDigest(blake3(bytes));
    if (await this._has(digest)) return digest;
    // The same check getRecursive makes on the way down, made before anything is stored.
    for (const node of dir.directories) await this.#checkChild(digest, node);
    await this._write(digest, bytes);
    this.#remember(digest, directorySize(dir));
    return digest;
  }

  /**
   * Sizes of Directories this service stored or verified lately, by digest: a tree is put
   * bottom-up, so each child was put just before its parent, and reading it back, hashing
   * and decoding it again to learn its size was a fifth of the main thread's time adding a
   * tree of 20,000 small files (cpu profile). Content-addressed, so a size once known never
   * changes; presence is still asked of the backend every time.
   */
  readonly #sizes = new Map<string, bigint>();

  #remember(digest: Digest, size: bigint): void {
    if (this.#sizes.size >= SIZE_CACHE) this.#sizes.delete(this.#sizes.keys().next().value!);
    this.#sizes.set(formatDigest(digest), size);
  }

  async #checkChild(parent: Digest, node: DirectoryNode): Promise<void> {
    const digest = asDigest(node.digest);
    // Asked of every child before the parent is written: a backend that refreshes what it
    // is asked about (the disk store's mtime, which gc spares) does so in time.
    if (!(await this._has(digest))) throw new MissingChildError(parent, node.name, digest);
    const size = this.#sizes.get(formatDigest(digest));
    if (size === undefined) {
      this.#remember(digest, directorySize(await this.loadChild(parent, node)));
      return;
    }
    if (size !== node.size) throw new ChildSizeMismatchError(node.name, digest, node.size, size);
  }

  async get(digest: Digest): Promise<Directory | undefined> {
    asDigest(digest);
    const bytes = await this._read(digest);
    if (bytes === undefined) return undefined;
    const actual = asDigest(blake3(bytes));
    if (!digestEquals(actual, digest)) throw new DirectoryDigestMismatchError(digest, actual);
    return decodeDirectory(bytes);
  }

  async *getRecursive(root: Digest): AsyncIterable<Directory> {
    const top = await this.get(root);
    if (top === undefined) return;
    yield top;
    // Per digest: its verified size once loaded, or the edges naming it while it waits.
    // Each Directory is loaded once, but every edge's size claim is still checked.
    const known = new Map<string, bigint | Edge[]>([[formatDigest(root), directorySize(top)]]);
    const follow = (parent: Digest, dir: Directory, into: Edge[]): void => {
      for (const node of dir.directories) {
        const key = formatDigest(node.digest);
        const seen = known.get(key);
        if (seen === undefined) {
          const edges = [{ parent, node }];
          known.set(key, edges);
          into.push(edges[0]!);
        } else if (typeof seen === 'bigint') {
          if (seen !== node.size) throw new ChildSizeMismatchError(node.name, asDigest(node.digest), node.size, seen);
        } else {
          seen.push({ parent, node });
        }
      }
    };
    // Level by level: breadth-first, and within a level in the order the edges were found.
    let level: Edge[] = [];
    follow(root, top, level);
    while (level.length > 0) {
      const next: Edge[] = [];
      for (const { parent, node } of level) {
        const key = formatDigest(node.digest);
        const child = await this.loadChild(parent, node);
        const size = directorySize(child);
        for (const other of known.get(key) as Edge[]) {
          if (other.node.size !== size) throw new ChildSizeMismatchError(other.node.name, asDigest(node.digest), other.node.size, size);
        }
        known.set(key, size);
        yield child;
        follow(asDigest(node.digest), child, next);
      }
      level = next;
    }
  }

  /** Reads, verifies and size-checks the child `node` of `parent` names. */
  private async loadChild(parent: Digest, node: DirectoryNode): Promise<Directory> {
    const digest = asDigest(node.digest);
    const child = await this.get(digest);
    if (child === undefined) throw new MissingChildError(parent, node.name, digest);
    const actual = directorySize(child);
    if (actual !== node.size) throw new ChildSizeMismatchError(node.name, digest, node.size, actual);
    return child;
  }
}
