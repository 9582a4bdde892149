// Content-addressed store paths: the path Nix 2.8 computes from a CA, a name and the
// references (makeTextPath, makeFixedOutputPath), so a path that claims a CA and carries
// no trusted signature is believed only when its own name proves the claim.

import { createHash } from 'node:crypto';
import { CastorError, nix32Encode } from '../../verify/index.js';
import { type ContentAddress, formatContentAddress, parseContentAddress } from './content-address.js';
import { HASH_PART_BYTES, parseStorePath, STORE_DIR } from './store-path.js';

/** A path whose CA does not produce its store path (or names references a CA path cannot have). */
export class ContentAddressMismatchError extends CastorError {
  constructor(storePath: string, detail: string) {
    super('CA_MISMATCH', `${storePath} is not the path its content address gives: ${detail}`, storePath);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Nix's compressHash: the digest folded by XOR into 20 bytes. */
function compress(hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_PART_BYTES);
  hash.forEach((b, i) => { out[i % HASH_PART_BYTES]! ^= b; });
  return out;
}

/** Nix's makeStorePath: `/nix/store/<nix32(compress(sha256("type:sha256:hex:/nix/store:name")))>-name`. */
function makeStorePath(type: string, innerSha256: Uint8Array, name: string): string {
  const s = `${type}:sha256:${Buffer.from(innerSha256).toString('hex')}:${STORE_DIR}:${name}`;
  return `${STORE_DIR}/${nix32Encode(compress(sha256(s)))}-${name}`;
}

/**
 * The store path Nix gives content address `ca` with `name` and `references` (full
 * paths; `self` is the path itself, allowed only for `fixed:r:sha256`). Throws
 * ContentAddressMismatchError for references a CA of that kind cannot have.
 */
export function caStorePath(name: string, ca: ContentAddress, references: readonly string[], self?: string): string {
  const others = references.filter((r) => r !== self).sort();
  const hasSelf = self !== undefined && references.includes(self);
  const where = self ?? name;
  if (ca.method === 'text') {
    if (hasSelf) throw new ContentAddressMismatchError(where, 'a text path cannot refer to itself');
    return makeStorePath(['text', ...others].join(':'), ca.digest, name);
  }
  if (ca.method === 'nar' && ca.algo === 'sha256') {
    return makeStorePath(['source', ...others, ...(hasSelf ? ['self'] : [])].join(':'), ca.digest, name);
  }
  if (references.length > 0) throw new ContentAddressMismatchError(where, `a ${formatContentAddress(ca).split(':').slice(0, -1).join(':')} path cannot have references`);
  const inner = `fixed:out:${ca.method === 'nar' ? 'r:' : ''}${ca.algo}:${Buffer.from(ca.digest).toString('hex')}:`;
  return makeStorePath('output:out', sha256(inner), name);
}

/** Checks that `info.ca` (present) yields `info.storePath`; returns the parsed CA. Throws ContentAddressMismatchError. */
export function checkCaStorePath(info: { readonly storePath: string; readonly ca?: string; readonly references: readonly string[] }): ContentAddress {
  if (info.ca === undefined) throw new ContentAddressMismatchError(info.storePath, 'it has no content address');
  const ca = parseContentAddress(info.ca);
  const path = parseStorePath(info.storePath);
  const expected = caStorePath(path.name, ca, info.references, info.storePath);
  if (expected !== info.storePath) throw new ContentAddressMismatchError(info.storePath, `${info.ca} gives ${expected}`);
  return ca;
}
