// The Nix keys a data dir trusts for store paths: config.json "trustedNixKeys", the same
// `name:base64` text as Nix's trusted-public-keys (kept apart from "trustedKeys", the
// publisher keys signed roots are checked against).

import type { PublicKey } from '../../verify/index.js';
import { configTrustedKeys } from '../trust/index.js';

export const CONFIG_TRUSTED_NIX_KEYS = 'trustedNixKeys';

/** The keys config.json at `file` lists under "trustedNixKeys"; none if absent. Throws TrustConfigError if malformed. */
export function configTrustedNixKeys(file: string): Promise<PublicKey[]> {
  return configTrustedKeys(file, CONFIG_TRUSTED_NIX_KEYS);
}
