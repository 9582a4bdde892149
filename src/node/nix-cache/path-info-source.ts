// What the binary cache needs of a PathInfo store: look a path up by its hash part, and
// put one (the store checks its references are present, and its signatures against the
// trusted keys given). The data dir's PathInfoStore is one; tests may pass their own.

import type { PathInfo, PutOptions } from '../../store/index.js';

export interface NixPathInfoSource {
  /** The path whose store path has this hash part (32 nix32 characters), or undefined. */
  get(hashPart: string): Promise<PathInfo | undefined>;
  /**
   * Makes `info` (with its node) a path of the store. Throws a CastorError when the path
   * is refused: a reference not present (NIX_MISSING_REFERENCE), no signature by a
   * trusted key on an input-addressed path (NIX_SIGNATURE), a conflicting path already
   * present (NIX_PATH_CONFLICT), a malformed field.
   */
  put(info: PathInfo, options: PutOptions): Promise<unknown>;
}
