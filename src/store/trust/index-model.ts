// The Index a SignedRoot vouches for: entries sorted by name, each a castore Node and,
// for Nix store paths, metadata shaped like tvix's PathInfo. Limits of what castor reads.

import type { Node } from '../castore/index.js';

/** An Index blob larger than this is refused before it is read into memory (256 MiB: about 500,000 Nix entries, 2.5 million bare ones). */
export const MAX_INDEX_BYTES = 256 * 1024 * 1024;
/** Nix store path digests (nixbase32-decoded) are 20 bytes. */
export const STORE_PATH_DIGEST_BYTES = 20;
/** NARInfo.nar_sha256. */
export const NAR_SHA256_BYTES = 32;
/** ed25519 signature bytes in NARInfo.Signature.data. */
export const NAR_SIGNATURE_BYTES = 64;

export interface NarSignature {
  /** Key name, e.g. `cache.nixos.org-1`. */
  readonly name: string;
  readonly data: Uint8Array;
}

export interface StorePathRef {
  /** The part after `<hash>-`, e.g. `hello-2.12.1.drv`. */
  readonly name: string;
  readonly digest: Uint8Array;
}

/** tvix NARInfo.CA.Hash values. */
export const CA_HASH_TYPES = [
  'NAR_SHA256', 'NAR_SHA1', 'TEXT_SHA256', 'FLAT_SHA1', 'NAR_SHA512', 'NAR_MD5', 'FLAT_MD5', 'FLAT_SHA256', 'FLAT_SHA512',
] as const;
/** Digest length of each CA hash type, by enum value. */
export const CA_DIGEST_BYTES: readonly number[] = [32, 20, 32, 20, 64, 16, 16, 32, 64];

export interface ContentAddress {
  /** Index into CA_HASH_TYPES (the enum value). */
  readonly type: number;
  readonly digest: Uint8Array;
}

/** tvix's NARInfo. */
export interface NarInfo {
  readonly narSize: bigint;
  readonly narSha256: Uint8Array;
  readonly signatures: readonly NarSignature[];
  /** Store path basenames (`<nixbase32 hash>-<name>`), in the order of NixInfo.references. */
  readonly referenceNames: readonly string[];
  readonly deriver?: StorePathRef;
  readonly ca?: ContentAddress;
}

/** tvix's PathInfo without its node, which the entry holds. */
export interface NixInfo {
  /** 20-byte store path digests. */
  readonly references: readonly Uint8Array[];
  readonly narinfo?: NarInfo;
}

export interface IndexEntry {
  /** A castore name: 1 to 255 bytes, no `/` or NUL, not `.` or `..`. */
  readonly name: Uint8Array;
  /** Anonymous (empty name) castore Node: the entry's root. */
  readonly node: Node;
  readonly nix?: NixInfo;
}
