// Whether a store path described by a narinfo may be taken, as Nix decides with
// require-sigs: a signature by a trusted key, or a content address its own store path
// proves (then the content is checked against it on import), or the user's say-so.

import { CastorError, type PublicKey } from '../../verify/index.js';
import { checkCaStorePath, ContentAddressMismatchError } from './ca-store-path.js';
import type { ContentAddress } from './content-address.js';
import { isSignedBy, type PathInfo } from './path-info.js';

/** A path nothing vouches for. `value` is the store path. */
export class UntrustedPathError extends CastorError {
  constructor(storePath: string, detail: string, options?: { cause?: unknown }) {
    super('UNTRUSTED_PATH', `${storePath}: ${detail}`, storePath, options);
  }
}

export type PathTrust =
  | { readonly by: 'signature' }
  /** Believed for its CA: the content must then hash to `ca`. */
  | { readonly by: 'content-address'; readonly ca: ContentAddress }
  | { readonly by: 'unchecked' };

/**
 * How `info` is trusted: a valid signature by one of `keys` first, else a CA that gives
 * its store path, else (only with `checkSigs` false) unchecked. Throws UntrustedPathError.
 */
export function pathTrust(info: Omit<PathInfo, 'node'>, keys: readonly PublicKey[], checkSigs: boolean): PathTrust {
  if (!checkSigs) return { by: 'unchecked' };
  if (isSignedBy(info, keys)) return { by: 'signature' };
  if (info.ca !== undefined) {
    try {
      return { by: 'content-address', ca: checkCaStorePath(info) };
    } catch (err: unknown) {
      if (err instanceof ContentAddressMismatchError) throw new UntrustedPathError(info.storePath, `no signature by a trusted Nix key, and ${err.message.slice(info.storePath.length + 1)}`, { cause: err });
      throw err;
    }
  }
  const names = [...new Set(info.signatures.map((s) => s.slice(0, s.indexOf(':'))))];
  const detail = names.length === 0
    ? 'no signature and no content address'
    : `signed only by ${names.join(', ')}, ${keys.length === 0 ? 'and no Nix key is trusted' : 'none of them a trusted Nix key (or the signature is not valid)'}`;
  throw new UntrustedPathError(info.storePath, `${detail}: trust the key with --trusted-nix-key or config.json "trustedNixKeys", or pass --no-check-sigs`);
}
