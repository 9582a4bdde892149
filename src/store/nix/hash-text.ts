// Hashes as Nix writes them in narinfos and content addresses: base16, Nix's base32 or
// base64, told apart by length as Nix's Hash parser does, with or without `algo:` / SRI.

import { nix32Decode, nix32Encode } from '../../verify/index.js';

/** Hash algorithms Nix names, with their digest sizes. */
export const HASH_BYTES = { md5: 16, sha1: 20, sha256: 32, sha512: 64 } as const;
export type HashAlgo = keyof typeof HASH_BYTES;

export function isHashAlgo(text: string): text is HashAlgo {
  return Object.hasOwn(HASH_BYTES, text);
}

/**
 * The digest `text` (no prefix) encodes for `algo`: 2n hex digits, ceil(8n/5) nix32
 * characters or padded base64, as Nix's `Hash::parseNonSRIUnprefixed`. Undefined otherwise.
 */
export function decodeHashBody(algo: HashAlgo, text: string): Uint8Array | undefined {
  const size = HASH_BYTES[algo];
  if (text.length === size * 2) return /^[0-9a-fA-F]+$/u.test(text) ? new Uint8Array(Buffer.from(text, 'hex')) : undefined;
  if (text.length === Math.ceil((size * 8) / 5)) return nix32Decode(text, size);
  if (text.length === 4 * Math.ceil(size / 3)) return decodeBase64(text, size);
  return undefined;
}

function decodeBase64(text: string, size: number): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/u.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64');
  // Canonical only: Node's decoder skips what it does not understand.
  if (buf.length !== size || buf.toString('base64') !== text) return undefined;
  return new Uint8Array(buf);
}

/**
 * A hash that names its algorithm: `algo:<base16|nix32|base64>` or SRI `algo-<base64>`
 * (Nix's `Hash::parseAnyPrefixed`). Undefined if malformed or not of `want` (when given).
 */
export function decodePrefixedHash(text: string, want?: HashAlgo): { algo: HashAlgo; digest: Uint8Array } | undefined {
  const m = /^([a-z0-9]+)([:-])(.*)$/su.exec(text);
  if (m === null || !isHashAlgo(m[1]!) || (want !== undefined && m[1] !== want)) return undefined;
  const algo = m[1];
  const digest = m[2] === '-' ? decodeBase64(m[3]!, HASH_BYTES[algo]) : decodeHashBody(algo, m[3]!);
  return digest === undefined ? undefined : { algo, digest };
}

/** `algo:<nix32>`, the form Nix prints. */
export function formatNixHash(algo: HashAlgo, digest: Uint8Array): string {
  return `${algo}:${nix32Encode(digest)}`;
}
