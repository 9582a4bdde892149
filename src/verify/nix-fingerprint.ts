// narinfo fingerprints (`1;<storepath>;<narHash>;<narSize>;<refs>`) as Nix's
// `ValidPathInfo::fingerprint` builds them, and their `Sig:` signatures.

import { InvalidInputError } from './errors.js';
import {
  type PublicKey, type SecretKey, formatSignature, parseSignature, sign, verify,
} from './keys.js';

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'; // Nix's base32: no e, o, u, t
const SHA256_BYTES = 32;
const SHA256_NIX32_LEN = 52;

/** Nix's base32 (`BaseNix32::encode`): least significant 5 bits printed last. */
export function nix32Encode(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let s = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = (bytes[i]! >> j) | (i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0);
    s += NIX32[c & 0x1f];
  }
  return s;
}

/** Inverse of nix32Encode for a known output size; rejects bits beyond it, as Nix's Hash parser does. */
export function nix32Decode(text: string, size: number): Uint8Array | undefined {
  if (text.length !== Math.ceil((size * 8) / 5)) return undefined;
  const out = new Uint8Array(size);
  for (let n = 0; n < text.length; n++) {
    const digit = NIX32.indexOf(text[text.length - n - 1]!);
    if (digit < 0) return undefined;
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1]! |= carry;
    else if (carry !== 0) return undefined;
  }
  return out;
}

/**
 * Nix prints the hash as `sha256:<nix32>` whatever form the narinfo used, so
 * accept raw bytes, `sha256:` with nix32 or hex, and SRI `sha256-<base64>`.
 */
export function normalizeNarHash(narHash: string | Uint8Array): string {
  if (narHash instanceof Uint8Array) {
    if (narHash.length !== SHA256_BYTES) throw new InvalidInputError('narHash must be 32 bytes (sha256)', narHash.length);
    return `sha256:${nix32Encode(narHash)}`;
  }
  if (typeof narHash !== 'string') throw new InvalidInputError('narHash must be a string or bytes', narHash);
  let bytes: Uint8Array | undefined;
  if (narHash.startsWith('sha256:')) {
    const rest = narHash.slice('sha256:'.length);
    if (rest.length === SHA256_NIX32_LEN) bytes = nix32Decode(rest, SHA256_BYTES);
    else if (/^[0-9a-f]{64}$/u.test(rest)) bytes = new Uint8Array(Buffer.from(rest, 'hex'));
  } else if (narHash.startsWith('sha256-')) {
    const rest = narHash.slice('sha256-'.length);
    const buf = Buffer.from(rest, 'base64');
    if (buf.length === SHA256_BYTES && buf.toString('base64') === rest) bytes = new Uint8Array(buf);
  }
  if (bytes === undefined) {
    throw new InvalidInputError('narHash must be sha256:<nix32|hex> or sha256-<base64>', narHash);
  }
  return `sha256:${nix32Encode(bytes)}`;
}

// <storeDir>/<32 nix32 chars>-<name>; name characters as Nix allows. Checking
// this keeps the fingerprint unambiguous (no ';' or ',' can sneak in).
const STORE_PATH_RE = /^(\/[^;,\s]*)\/[0123456789abcdfghijklmnpqrsvwxyz]{32}-[A-Za-z0-9+\-._?=]{1,211}$/u;

function storeDirOf(path: string, what: string): string {
  const m = typeof path === 'string' ? STORE_PATH_RE.exec(path) : null;
  if (m === null) throw new InvalidInputError(`${what} is not a full store path (<storeDir>/<hash>-<name>)`, path);
  return m[1]!;
}

function narSizeText(narSize: number | bigint): string {
  const ok = typeof narSize === 'bigint' ? narSize > 0n : Number.isSafeInteger(narSize) && narSize > 0;
  // Nix refuses to fingerprint a path whose size is unknown (0).
  if (!ok) throw new InvalidInputError('narSize must be a positive integer', narSize);
  return narSize.toString();
}

/**
 * `1;<storePath>;sha256:<nix32>;<narSize>;<refs>`. References must be full store
 * paths in the same store dir (a narinfo's `References:` line lists base names:
 * prefix them). Nix keeps them in a std::set of strings, so they come out
 * deduplicated and byte-sorted whatever order they are given in.
 */
export function narinfoFingerprint(
  storePath: string,
  narHash: string | Uint8Array,
  narSize: number | bigint,
  references: readonly string[],
): string {
  const storeDir = storeDirOf(storePath, 'storePath');
  if (!Array.isArray(references)) throw new InvalidInputError('references must be an array of store paths', references);
  for (const ref of references) {
    if (storeDirOf(ref, 'reference') !== storeDir) {
      throw new InvalidInputError(`reference is not in store dir ${storeDir}`, ref);
    }
  }
  // Paths are ASCII (checked above), so UTF-16 order equals Nix's byte order.
  const refs = [...new Set(references)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `1;${storePath};${normalizeNarHash(narHash)};${narSizeText(narSize)};${refs.join(',')}`;
}

/** Sign a fingerprint; returns the `Sig:` value `name:base64(signature)`. */
export function signFingerprint(secret: SecretKey, fingerprint: string): string {
  return formatSignature(sign(secret, Buffer.from(fingerprint, 'utf8')));
}

/**
 * True iff `sigText` is a valid signature over the fingerprint by the key its name
 * selects (the first of that name, like Nix's name-keyed map). Unknown name: false.
 * Throws MalformedSignatureError when `sigText` is not a signature at all.
 */
export function verifyFingerprint(fingerprint: string, sigText: string, publicKeys: readonly PublicKey[]): boolean {
  const sig = parseSignature(sigText);
  const key = publicKeys.find((k) => k.name === sig.name);
  if (key === undefined) return false;
  return verify(key, Buffer.from(fingerprint, 'utf8'), sig);
}

/**
 * Split a fingerprint into its fields, requiring it to be exactly what
 * narinfoFingerprint would print for them (so mis-quoted or hand-edited input is
 * caught before it is signed). Throws InvalidInputError otherwise.
 */
export function parseFingerprint(fingerprint: string): {
  storePath: string; narHash: string; narSize: bigint; references: string[];
} {
  const parts = typeof fingerprint === 'string' ? fingerprint.split(';') : [];
  if (parts.length !== 5 || parts[0] !== '1' || !/^[1-9][0-9]*$/u.test(parts[3]!)) {
    throw new InvalidInputError('not a narinfo fingerprint "1;<storepath>;<narHash>;<narSize>;<refs>"', fingerprint);
  }
  const [, storePath, narHash, size, refText] = parts as [string, string, string, string, string];
  const references = refText === '' ? [] : refText.split(',');
  const narSize = BigInt(size);
  if (narinfoFingerprint(storePath, narHash, narSize, references) !== fingerprint) {
    throw new InvalidInputError('fingerprint is not in canonical form (narHash as sha256:<nix32>, references sorted)', fingerprint);
  }
  return { storePath, narHash, narSize, references };
}
