// LayeredDirectoryService: a local tier first, then ordered lower tiers. Whatever a lower
// tier answers is checked here against the digest asked for (a tree against the digests
// and sizes its parents name), and written through to the local tier leaves first, so the
// local store stays closed under references and the next read is local.

import { blake3 } from '../../verify/index.js';
import { type Directory, decodeDirectory, encodeDirectory } from '../castore/index.js';
import { type Digest, asDigest, digestEquals } from '../digest.js';
import { ChildSizeMismatchError, type DirectoryService, MissingChildError } from '../directory-service.js';
import { DirectoryTreeVerifier } from '../directories/index.js';
import { TierHashMismatchError } from './tier-errors.js';

export interface LayeredDirectoryServiceOptions {
  /** Names of the tiers in errors, local first (openStores passes the specs). @default 'local tier', 'lower tier 1', … */
  names?: readonly string[];
}

export class LayeredDirectoryService implements DirectoryService {
  readonly local: DirectoryService;
  readonly lowers: readonly DirectoryService[];
  readonly #names: readonly string[];

  constructor(local: DirectoryService, lowers: readonly DirectoryService[], options: LayeredDirectoryServiceOptions = {}) {
    this.local = local;
    this.lowers = [...lowers];
    this.#names = options.names ?? [];
  }

  /** The name of tier `i` (0 is the local tier) for messages. */
  tierName(i: number): string {
    return this.#names[i] ?? (i === 0 ? 'local tier' : `lower tier ${i}`);
  }

  /** Into the local tier, whose own checks apply: its children must be there already. */
  put(dir: Directory): Promise<Digest> {
    return this.local.put(dir);
  }

  /**
   * The local tier's Directory, else the first lower tier's, which must re-encode to
   * `digest` (TierHashMismatchError otherwise, and nothing is stored). It is written
   * through when the local tier takes it, that is when its child Directories are already
   * local with the sizes it claims; otherwise it is returned without being stored (a tree
   * comes through whole with getRecursive).
   */
  async get(digest: Digest): Promise<Directory | undefined> {
    asDigest(digest);
    const mine = await this.local.get(digest);
    if (mine !== undefined) return mine;
    for (const [i, lower] of this.lowers.entries()) {
      const dir = await lower.get(digest);
      if (dir === undefined) continue;
      // Our own encoding of what was sent, so what is checked is what is stored and returned.
      const bytes = encodeDirectory(dir);
      const actual = asDigest(blake3(bytes));
      if (!digestEquals(actual, digest)) throw new TierHashMismatchError(this.tierName(i + 1), 'directory', digest, actual);
      const checked = decodeDirectory(bytes);
      try {
        await this.local.put(checked);
      } catch (err: unknown) {
        if (!(err instanceof MissingChildError || err instanceof ChildSizeMismatchError)) throw err;
      }
      return decodeDirectory(bytes.slice());
    }
    return undefined;
  }

  /**
   * From the local tier if it has `root`: it is closed under references, so it has the
   * whole tree. Otherwise from the first lower tier that yields the root: each Directory is
   * yielded once DirectoryTreeVerifier has checked it (the next one breadth-first, hashing
   * to the digest its parent names, with the size its parent claims); once the tree is
   * complete it is written to the local tier leaves first, before the stream ends. A
   * caller that stops early, or a tree that fails a check or ends short, leaves nothing
   * new in the local tier.
   */
  async *getRecursive(root: Digest): AsyncIterable<Directory> {
    asDigest(root);
    const tiers = [this.local, ...this.lowers];
    for (const [i, tier] of tiers.entries()) {
      const it = tier.getRecursive(root)[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        if (first.done) continue;
        if (i === 0) {
          yield first.value;
          for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
        } else {
          yield* this.#fromLower(this.tierName(i), root, first.value, it);
        }
        return;
      } finally {
        // Stops a tier's walk that we leave early; a no-op for one that ended.
        await it.return?.();
      }
    }
  }

  async *#fromLower(tier: string, root: Digest, first: Directory, it: AsyncIterator<Directory>): AsyncGenerator<Directory> {
    const verifier = new DirectoryTreeVerifier(root, tier);
    yield verifier.accept(first);
    // Stop reading once the tree is complete: anything more the tier sends is not ours to take.
    while (!verifier.complete()) {
      const r = await it.next();
      if (r.done) break;
      yield verifier.accept(r.value);
    }
    verifier.finish();
    for (const dir of verifier.leavesFirst()) await this.local.put(dir);
  }
}
