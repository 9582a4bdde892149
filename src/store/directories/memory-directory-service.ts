// MemoryDirectoryService: Directories held in process memory, for tests and for
// short-lived nodes; the same contract as every DirectoryService.

import { AbstractDirectoryService } from '../directory-service.js';
import { type Digest, formatDigest } from '../digest.js';

export class MemoryDirectoryService extends AbstractDirectoryService {
  // Canonical encodings, not objects: nothing a caller holds aliases stored state.
  readonly #byDigest = new Map<string, Uint8Array>();

  /** How many Directories are stored. */
  get size(): number {
    return this.#byDigest.size;
  }

  protected override async _read(digest: Digest): Promise<Uint8Array | undefined> {
    // A copy, because decoded names and digests are views into these bytes.
    return this.#byDigest.get(formatDigest(digest))?.slice();
  }

  protected override async _has(digest: Digest): Promise<boolean> {
    return this.#byDigest.has(formatDigest(digest));
  }

  protected override async _write(digest: Digest, bytes: Uint8Array): Promise<void> {
    this.#byDigest.set(formatDigest(digest), bytes);
  }
}
