// An uploaded path believed for its content address alone (no trusted signature) must
// have the content that address names: the NAR's hash for `fixed:r:`, the one file's
// bytes for `text:` and flat `fixed:`. Its store path was already checked against the CA.

import { createHash } from 'node:crypto';
import { asDigest, type BlobService, type ContentAddress, type DirectoryService, formatContentAddress, type Node, renderNar } from '../../store/index.js';
import { nix32Encode } from '../../verify/index.js';
import { NixCacheError } from './errors.js';

/** Throws NixCacheError 400 unless the tree `node` (whose NAR hashes to `narHash`) has the content `ca` names. */
export async function checkCaContent(storePath: string, ca: ContentAddress, node: Node, narHash: Uint8Array, store: { blobs: BlobService; directories: DirectoryService }): Promise<void> {
  let actual: Uint8Array;
  if (ca.method === 'nar' && ca.algo === 'sha256') {
    actual = narHash;
  } else if (ca.method === 'nar') {
    const h = createHash(ca.algo);
    for await (const chunk of renderNar(node, store)) h.update(chunk);
    actual = new Uint8Array(h.digest());
  } else {
    const file = 'file' in node ? node.file : undefined;
    if (file === undefined || (ca.method === 'text' && file.executable)) {
      throw new NixCacheError(400, 'BAD_UPLOAD', `${storePath} claims ${formatContentAddress(ca)} but is not a ${ca.method === 'text' ? 'plain ' : ''}file`, storePath);
    }
    const body = await store.blobs.read(asDigest(file.digest));
    if (body === undefined) throw new NixCacheError(400, 'BAD_UPLOAD', `${storePath}: its file is not in the store`, storePath);
    const h = createHash(ca.algo);
    for await (const piece of body) h.update(piece);
    actual = new Uint8Array(h.digest());
  }
  if (!Buffer.from(actual).equals(ca.digest)) {
    throw new NixCacheError(400, 'BAD_UPLOAD', `${storePath} claims ${formatContentAddress(ca)}, but its content has ${ca.algo}:${nix32Encode(actual)}`, storePath);
  }
}
