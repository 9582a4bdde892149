// DHT keys: what castor announces and looks up in kad-dht provider records.
//
// Remote kad-dht peers reject CIDs whose multihash is BLAKE3 (0x1e) while `provide` still
// resolves, so nothing is ever found (DESIGN.md, known pitfalls). The key is therefore a
// genuine sha2-256 CID (v1, raw codec) of a namespaced preimage:
//   content:        sha256("castor/provide/v1\0" ‖ 32-byte BLAKE3 digest)
//   publisher root: sha256("castor/root/v1\0"    ‖ 32-byte ed25519 public key)
//   Nix store path: sha256("castor/nix-path/v1\0" ‖ 20-byte store path hash)
// The namespaces keep the two kinds (and any later one) from colliding, and keep castor's
// records apart from anyone else's records of the same bytes.

import { createHash } from 'node:crypto';
import type { ContentRouting } from '@libp2p/interface';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import { InvalidInputError } from '../../verify/index.js';

/** Multicodec of raw bytes: the record names bytes, not an IPLD block. */
const RAW_CODEC = 0x55;
const CONTENT_PREFIX = new TextEncoder().encode('castor/provide/v1\0');
const ROOT_PREFIX = new TextEncoder().encode('castor/root/v1\0');
const STORE_PATH_PREFIX = new TextEncoder().encode('castor/nix-path/v1\0');

/**
 * A CID as libp2p's content routing takes it. libp2p carries its own multiformats major
 * (14) beside the one castor depends on (13); the two CID classes differ only in typing,
 * and kad-dht reads nothing of a key but `multihash.bytes`.
 */
export type DhtKey = Parameters<ContentRouting['provide']>[0];

function keyOf(prefix: Uint8Array, bytes: Uint8Array): DhtKey {
  const hash = createHash('sha256').update(prefix).update(bytes).digest();
  return CID.createV1(RAW_CODEC, Digest.create(sha256.code, new Uint8Array(hash))) as unknown as DhtKey;
}

/** The DHT key under which holders of the blob or tree `digest` (32 bytes) announce it. */
export function contentKey(digest: Uint8Array): DhtKey {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new InvalidInputError('a digest is 32 bytes', digest?.length);
  return keyOf(CONTENT_PREFIX, digest);
}

/** The DHT key under which holders of a publisher's newest SignedRoot announce it. */
export function rootKey(publicKey: Uint8Array): DhtKey {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new InvalidInputError('a publisher public key is 32 bytes', publicKey?.length);
  return keyOf(ROOT_PREFIX, publicKey);
}

/** The DHT key under which holders of a Nix store path's PathInfo announce it: `hash` is its hash part's 20 bytes. */
export function storePathKey(hash: Uint8Array): DhtKey {
  if (!(hash instanceof Uint8Array) || hash.length !== 20) throw new InvalidInputError('a store path hash is 20 bytes', hash?.length);
  return keyOf(STORE_PATH_PREFIX, hash);
}
