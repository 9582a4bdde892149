// Checks a Directory tree that arrives root first from a source not trusted (a lower
// tier, later a peer): each Directory must be the next one breadth-first and hash to the
// digest its parent names, and every DirectoryNode's size must be that of the Directory it
// names. Then gives the tree back leaves first, the order a store that is closed under
// references can take it in (tvix's order_validator: read root to leaves, write leaves
// to root).

import { blake3 } from '../../verify/index.js';
import { InvalidInputError } from '../../verify/index.js';
import { type Directory, type DirectoryNode, decodeDirectory, directorySize, encodeDirectory } from '../castore/index.js';
import { type Digest, asDigest, digestEquals, formatDigest } from '../digest.js';
import { ChildSizeMismatchError } from '../directory-service.js';
import { TierHashMismatchError, TierMissingChildError } from '../compose/index.js';

interface Edge {
  readonly parent: Digest;
  readonly node: DirectoryNode;
}

interface Received {
  /** Canonical encoding, never handed out (callers get their own decodes). */
  readonly bytes: Uint8Array;
  readonly dir: Directory;
  readonly digest: Digest;
}

/**
 * One tree, one pass. The order is the one DirectoryService.getRecursive promises and
 * AbstractDirectoryService produces: level by level, within a level in the order the
 * DirectoryNodes were met, each Directory once (where it is first named). A source that
 * sends any other order is refused: a Directory out of place fails as a hash mismatch
 * against the one expected there. Memory: every Directory's encoding until the end.
 */
export class DirectoryTreeVerifier {
  readonly #source: string;
  readonly #root: Digest;
  /** Edges whose Directories are still to come, in the order they must arrive. */
  readonly #queue: Edge[] = [];
  #head = 0;
  /** Per digest: its verified size once arrived, or the edges naming it while it waits. */
  readonly #known = new Map<string, bigint | Edge[]>();
  readonly #received = new Map<string, Received>();
  /** The last Directory accepted, whose own DirectoryNodes are checked before anything else is. */
  #unfollowed: Received | undefined;

  /** `source` names where the tree comes from, in errors. */
  constructor(root: Digest, source: string) {
    this.#root = asDigest(root);
    this.#source = source;
  }

  /** How many Directories have been accepted. */
  get count(): number {
    return this.#received.size;
  }

  /**
   * Checks the next Directory and returns a copy of it for the caller (decoded from the
   * verified bytes, so nothing the caller does reaches what this verifier keeps). Throws
   * TierHashMismatchError (not the next Directory of the tree), ChildSizeMismatchError,
   * or InvalidDirectoryError (it hashes right but breaks a castore rule).
   */
  accept(dir: Directory): Directory {
    this.#follow();
    let expected: Digest;
    let edges: Edge[] = [];
    if (this.#received.size === 0) {
      expected = this.#root;
    } else {
      const edge = this.#queue[this.#head];
      if (edge === undefined) throw new InvalidInputError(`the tree of ${formatDigest(this.#root)} is already complete`, dir);
      expected = asDigest(edge.node.digest);
      edges = this.#known.get(formatDigest(expected)) as Edge[];
    }
    const bytes = encodeDirectory(dir);
    const actual = asDigest(blake3(bytes));
    if (!digestEquals(actual, expected)) throw new TierHashMismatchError(this.#source, 'directory', expected, actual);
    const checked = decodeDirectory(bytes);
    const size = directorySize(checked);
    for (const e of edges) {
      if (e.node.size !== size) throw new ChildSizeMismatchError(e.node.name, expected, e.node.size, size);
    }
    if (this.#received.size > 0) this.#head++;
    const key = formatDigest(expected);
    this.#known.set(key, size);
    const received = { bytes, dir: checked, digest: expected };
    this.#received.set(key, received);
    this.#unfollowed = received;
    return decodeDirectory(bytes.slice());
  }

  /** Whether every Directory the tree names has arrived (checks the last one's DirectoryNodes first). */
  complete(): boolean {
    this.#follow();
    return this.#received.size > 0 && this.#head === this.#queue.length;
  }

  /** Throws TierMissingChildError, naming the first Directory still to come, unless the tree is complete. */
  finish(): void {
    if (this.complete()) return;
    if (this.#received.size === 0) throw new InvalidInputError(`the root ${formatDigest(this.#root)} never arrived`, this.#root);
    const { parent, node } = this.#queue[this.#head]!;
    throw new TierMissingChildError(this.#source, parent, node.name, asDigest(node.digest));
  }

  /**
   * The whole tree, each Directory after every Directory it names (post-order from the
   * root), as fresh decodes. Call after `finish()`.
   */
  leavesFirst(): Directory[] {
    this.finish();
    const out: Directory[] = [];
    const visited = new Set<string>([formatDigest(this.#root)]);
    const stack: { key: string; next: number }[] = [{ key: formatDigest(this.#root), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const { dir, bytes } = this.#received.get(top.key)!;
      const child = dir.directories[top.next++];
      if (child === undefined) {
        stack.pop();
        out.push(decodeDirectory(bytes.slice()));
        continue;
      }
      const key = formatDigest(child.digest);
      if (!visited.has(key)) {
        visited.add(key);
        stack.push({ key, next: 0 });
      }
    }
    return out;
  }

  /** Records the DirectoryNodes of the last accepted Directory: queues the new, checks sizes of the known. */
  #follow(): void {
    const r = this.#unfollowed;
    if (r === undefined) return;
    this.#unfollowed = undefined;
    for (const node of r.dir.directories) {
      const key = formatDigest(node.digest);
      const seen = this.#known.get(key);
      const edge = { parent: r.digest, node };
      if (seen === undefined) {
        this.#known.set(key, [edge]);
        this.#queue.push(edge);
      } else if (typeof seen === 'bigint') {
        if (seen !== node.size) throw new ChildSizeMismatchError(node.name, asDigest(node.digest), node.size, seen);
      } else {
        seen.push(edge);
      }
    }
  }
}
