// A PathInfo source in memory for the in-process binary cache tests: closed under
// references and checking signatures against trusted keys unless content-addressed, as
// the data dir's PathInfo store does.

import type { NixPathInfoSource } from '../../src/node/nix-cache/index.js';
import { isSignedBy, parseStorePath, type PathInfo } from '../../src/store/index.js';
import { CastorError, type PublicKey } from '../../src/verify/index.js';

export class MemoryPathInfos implements NixPathInfoSource {
  readonly paths = new Map<string, PathInfo>();
  constructor(readonly trusted: readonly PublicKey[]) {}

  async get(hashPart: string): Promise<PathInfo | undefined> {
    return this.paths.get(hashPart);
  }

  async put(info: PathInfo): Promise<void> {
    for (const ref of info.references) {
      if (ref !== info.storePath && !this.paths.has(parseStorePath(ref).hashPart)) throw new CastorError('MISSING_REFERENCE', `reference ${ref} is not present`, ref);
    }
    if (info.ca === undefined && !isSignedBy(info, this.trusted)) throw new CastorError('UNTRUSTED_SIGNATURE', `no signature by a trusted key on ${info.storePath}`, info.storePath);
    this.paths.set(parseStorePath(info.storePath).hashPart, info);
  }
}
