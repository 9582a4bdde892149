// PathInfo: what castor knows of a Nix store path (tvix's PathInfo): its castore root and
// the metadata its narinfo signs. Checks, the signed fingerprint, and the mapping to the
// IndexEntry / NixInfo shape signed roots already carry, so both are one record.

import {
  CastorError, type PublicKey, type SecretKey, formatSignature, narinfoFingerprint, nix32Encode, parseSignature, signFingerprint,
  verifyFingerprint,
} from '../../verify/index.js';
import { type Node, validateNode } from '../castore/index.js';
import type { IndexEntry, NixInfo } from '../trust/index.js';
import { canonicalContentAddress, fromTvixCa, parseContentAddress, tvixCaType } from './content-address.js';
import { formatNixHash } from './hash-text.js';
import { compareStorePaths, hashPartBytes, parseBaseName, parseStorePath, STORE_DIR } from './store-path.js';

export const NAR_HASH_BYTES = 32;

export interface PathInfo {
  /** Full store path, `/nix/store/<hash>-<name>`. */
  readonly storePath: string;
  /** The castore root of the path's tree (anonymous); absent in a bare narinfo. */
  readonly node?: Node;
  /** sha256 of the path's NAR. */
  readonly narHash: Uint8Array;
  /** Bytes of the path's NAR; positive. */
  readonly narSize: number;
  /** Full store paths, byte-sorted and unique; the path itself when it refers to itself. */
  readonly references: readonly string[];
  /** Full store path of the .drv, when known. */
  readonly deriver?: string;
  /** `keyname:base64(ed25519 signature)` over the fingerprint, sorted and unique. */
  readonly signatures: readonly string[];
  /** Content address as Nix prints it (`fixed:r:sha256:...`, `text:sha256:...`). */
  readonly ca?: string;
}

/** A PathInfo that breaks a rule; `value` is the store path (or the field) at fault. */
export class InvalidPathInfoError extends CastorError {
  constructor(detail: string, value: unknown, options?: { cause?: unknown }) {
    super('INVALID_PATH_INFO', `invalid path info: ${detail}`, value, options);
  }
}

function sortedUnique(items: readonly string[]): string[] {
  return [...new Set(items)].sort(compareStorePaths);
}

/**
 * Checks every field (store paths, 32-byte narHash, positive safe-integer narSize,
 * signature syntax, CA, node) and returns a copy in canonical form: references and
 * signatures sorted and unique, CA as Nix prints it. Throws InvalidPathInfoError (the
 * cause holds the field's own typed error).
 */
export function checkPathInfo(info: PathInfo): PathInfo {
  const where = typeof info?.storePath === 'string' ? info.storePath : undefined;
  const fail = (detail: string, cause?: unknown): never => {
    throw new InvalidPathInfoError(detail + (cause instanceof Error ? `: ${cause.message}` : ''), where, { cause });
  };
  const attempt = <T>(what: string, f: () => T): T => {
    try { return f(); } catch (err: unknown) { return fail(what, err); }
  };
  attempt('storePath', () => parseStorePath(info.storePath));
  if (!(info.narHash instanceof Uint8Array) || info.narHash.length !== NAR_HASH_BYTES) fail('narHash must be 32 bytes (sha256)');
  if (!Number.isSafeInteger(info.narSize) || info.narSize <= 0) fail(`narSize ${String(info.narSize)} is not a positive integer`);
  if (!Array.isArray(info.references)) fail('references must be an array');
  const references = sortedUnique(info.references.map((r) => attempt('reference', () => parseStorePath(r)).path));
  const deriver = info.deriver === undefined ? undefined : attempt('deriver', () => parseStorePath(info.deriver).path);
  if (!Array.isArray(info.signatures)) fail('signatures must be an array');
  const signatures = sortedUnique(info.signatures.map((s) => attempt('signature', () => formatSignature(parseSignature(s)))));
  const ca = info.ca === undefined ? undefined : attempt('CA', () => canonicalContentAddress(info.ca!));
  if (info.node !== undefined) attempt('node', () => validateNode(info.node!, { anonymous: true }));
  return {
    storePath: info.storePath,
    ...(info.node !== undefined && { node: info.node }),
    narHash: new Uint8Array(info.narHash), // a copy, and a plain Uint8Array even when handed a Buffer
    narSize: info.narSize,
    references,
    ...(deriver !== undefined && { deriver }),
    signatures,
    ...(ca !== undefined && { ca }),
  };
}

/** `1;<storePath>;sha256:<nix32>;<narSize>;<refs>`, what a narinfo's Sig signs. */
export function pathInfoFingerprint(info: PathInfo): string {
  return narinfoFingerprint(info.storePath, info.narHash, info.narSize, info.references);
}

/** Names of the keys in `keys` whose signature in `info` verifies; malformed signatures count as none. */
export function validSignatureKeys(info: PathInfo, keys: readonly PublicKey[]): string[] {
  const fingerprint = pathInfoFingerprint(info);
  const names: string[] = [];
  for (const sig of info.signatures) {
    try {
      if (verifyFingerprint(fingerprint, sig, keys)) names.push(parseSignature(sig).name);
    } catch {
      // a malformed signature proves nothing; Nix skips it too
    }
  }
  return names;
}

/** True iff some signature in `info` verifies under one of `keys`. */
export function isSignedBy(info: PathInfo, keys: readonly PublicKey[]): boolean {
  return validSignatureKeys(info, keys).length > 0;
}

/** `info` with a signature by `secret` added (one of the same key name replaced). */
export function signPathInfo(info: PathInfo, secret: SecretKey): PathInfo {
  const sig = signFingerprint(secret, pathInfoFingerprint(info));
  const others = info.signatures.filter((s) => s.slice(0, s.indexOf(':')) !== secret.name);
  return { ...info, signatures: sortedUnique([...others, sig]) };
}

/** The narHash as Nix prints it, `sha256:<nix32>`. */
export function narHashText(info: PathInfo): string {
  return formatNixHash('sha256', info.narHash);
}

function baseNameOf(storePath: string): string {
  return storePath.slice(STORE_DIR.length + 1);
}

/**
 * The NixInfo (protos/index.proto) of a checked PathInfo. NixInfo keeps names of at
 * most 180 characters (its decoder's rule), so a longer reference or deriver name is
 * refused there (InvalidIndexError BAD_NIX_INFO).
 */
export function toNixInfo(info: PathInfo): NixInfo {
  const refs = info.references.map((r) => parseStorePath(r));
  const deriver = info.deriver === undefined ? undefined : parseStorePath(info.deriver);
  const ca = info.ca === undefined ? undefined : parseContentAddress(info.ca);
  return {
    references: refs.map((r) => hashPartBytes(r.hashPart)),
    narinfo: {
      narSize: BigInt(info.narSize),
      narSha256: info.narHash,
      signatures: info.signatures.map((s) => {
        const sig = parseSignature(s);
        return { name: sig.name, data: sig.signature };
      }),
      referenceNames: refs.map((r) => r.baseName),
      ...(deriver !== undefined && { deriver: { name: deriver.name, digest: hashPartBytes(deriver.hashPart) } }),
      ...(ca !== undefined && { ca: { type: tvixCaType(ca), digest: ca.digest } }),
    },
  };
}

/** The PathInfo a NixInfo describes for `storePath` (with `node` when given). Throws InvalidPathInfoError. */
export function fromNixInfo(storePath: string, nix: NixInfo, node?: Node): PathInfo {
  const n = nix.narinfo;
  if (n === undefined) throw new InvalidPathInfoError('NixInfo has no narinfo', storePath);
  if (n.narSize > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidPathInfoError('narSize beyond 2^53', storePath);
  const deriverPath = n.deriver === undefined ? undefined : `${STORE_DIR}/${nix32Encode(n.deriver.digest)}-${n.deriver.name}`;
  return checkPathInfo({
    storePath,
    ...(node !== undefined && { node }),
    narHash: n.narSha256,
    narSize: Number(n.narSize),
    references: n.referenceNames.map((name) => parseBaseName(name).path),
    ...(deriverPath !== undefined && { deriver: deriverPath }),
    signatures: n.signatures.map((s) => formatSignature({ name: s.name, signature: s.data })),
    ...(n.ca !== undefined && { ca: canonicalContentAddress(formatCa(n.ca.type, n.ca.digest)) }),
  });
}

function formatCa(type: number, digest: Uint8Array): string {
  const ca = fromTvixCa(type, digest);
  return `${ca.method === 'text' ? 'text' : ca.method === 'nar' ? 'fixed:r' : 'fixed'}:${formatNixHash(ca.algo, ca.digest)}`;
}

/** The IndexEntry of a PathInfo with a node: named by its base name, as a publisher's Index would. */
export function toIndexEntry(info: PathInfo): IndexEntry {
  if (info.node === undefined) throw new InvalidPathInfoError('no root node', info.storePath);
  return { name: new TextEncoder().encode(baseNameOf(info.storePath)), node: info.node, nix: toNixInfo(info) };
}

/** The PathInfo of an IndexEntry named by a store path base name. Throws InvalidPathInfoError. */
export function fromIndexEntry(entry: IndexEntry): PathInfo {
  const name = new TextDecoder().decode(entry.name);
  let storePath: string;
  try {
    storePath = parseBaseName(name).path;
  } catch (err: unknown) {
    throw new InvalidPathInfoError('entry name is not a store path base name', name, { cause: err });
  }
  if (entry.nix === undefined) throw new InvalidPathInfoError('entry has no Nix info', storePath);
  return fromNixInfo(storePath, entry.nix, entry.node);
}
