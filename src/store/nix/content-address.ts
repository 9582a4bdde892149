// Content addresses of Nix store paths (a narinfo's `CA:` field): `text:sha256:<hash>` and
// `fixed:[r:]<algo>:<hash>`, parsed as Nix 2.8's parseContentAddress, printed in nix32,
// and mapped to the tvix NARInfo.CA enum that NixInfo (protos/index.proto) keeps.

import { CastorError } from '../../verify/index.js';
import { type HashAlgo, decodeHashBody, formatNixHash, isHashAlgo } from './hash-text.js';

/** `text`: a derivation or builtins.toFile output; `flat`: a file's hash; `nar`: a NAR's hash (`fixed:r:`). */
export type CaMethod = 'text' | 'flat' | 'nar';

export interface ContentAddress {
  readonly method: CaMethod;
  readonly algo: HashAlgo;
  readonly digest: Uint8Array;
}

/** A CA field Nix would refuse. */
export class InvalidContentAddressError extends CastorError {
  constructor(detail: string, value: unknown) {
    super('INVALID_CONTENT_ADDRESS', `invalid content address ${JSON.stringify(String(value))}: ${detail}`, value);
  }
}

/** Parses `text:sha256:<hash>` or `fixed:[r:]<algo>:<hash>` (hash in base16, nix32 or base64). */
export function parseContentAddress(text: string): ContentAddress {
  const m = /^(text|fixed):(r:)?([a-z0-9]+):(.*)$/su.exec(text);
  if (m === null) throw new InvalidContentAddressError('not text:<algo>:<hash> or fixed:[r:]<algo>:<hash>', text);
  const [, prefix, recursive, algo, body] = m as unknown as [string, string, string | undefined, string, string];
  if (!isHashAlgo(algo)) throw new InvalidContentAddressError(`unknown hash algorithm ${algo}`, text);
  if (prefix === 'text' && (recursive !== undefined || algo !== 'sha256')) throw new InvalidContentAddressError('a text content address is text:sha256:<hash>', text);
  const digest = decodeHashBody(algo, body);
  if (digest === undefined) throw new InvalidContentAddressError(`not a ${algo} hash in base16, nix32 or base64`, text);
  const method: CaMethod = prefix === 'text' ? 'text' : recursive !== undefined ? 'nar' : 'flat';
  return { method, algo, digest };
}

/** The form Nix prints (renderContentAddress): hash in nix32. */
export function formatContentAddress(ca: ContentAddress): string {
  const head = ca.method === 'text' ? 'text:' : ca.method === 'nar' ? 'fixed:r:' : 'fixed:';
  return head + formatNixHash(ca.algo, ca.digest);
}

/** A CA text in the form Nix prints it. */
export function canonicalContentAddress(text: string): string {
  return formatContentAddress(parseContentAddress(text));
}

// tvix NARInfo.CA.Hash, by enum value (CA_HASH_TYPES in src/store/trust).
const TVIX_CA: readonly (readonly [CaMethod, HashAlgo])[] = [
  ['nar', 'sha256'], ['nar', 'sha1'], ['text', 'sha256'], ['flat', 'sha1'], ['nar', 'sha512'],
  ['nar', 'md5'], ['flat', 'md5'], ['flat', 'sha256'], ['flat', 'sha512'],
];

/** The tvix NARInfo.CA enum value of a method and algorithm (every pair Nix allows has one). */
export function tvixCaType(ca: ContentAddress): number {
  const type = TVIX_CA.findIndex(([method, algo]) => method === ca.method && algo === ca.algo);
  if (type < 0) throw new InvalidContentAddressError('no tvix CA type for it', formatContentAddress(ca));
  return type;
}

/** The content address a tvix NARInfo.CA stands for. */
export function fromTvixCa(type: number, digest: Uint8Array): ContentAddress {
  const pair = TVIX_CA[type];
  if (pair === undefined) throw new InvalidContentAddressError(`unknown tvix CA type ${type}`, type);
  return { method: pair[0], algo: pair[1], digest };
}
