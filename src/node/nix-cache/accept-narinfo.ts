// PUT /<hash>.narinfo: the narinfo of an uploaded NAR. It must name a pending upload, and
// claim the NarHash and NarSize its ingest computed; then its path (that tree, with the
// narinfo's references, deriver, signatures and CA) goes to the PathInfo store, which
// checks references and signatures. Every refusal is a 4xx with a one-line reason.

import { CastorError, nix32Encode } from '../../verify/index.js';
import { type Narinfo, NarinfoError, parseNarinfo, parseStorePath, type PathInfo } from '../../store/index.js';
import { NixCacheError } from './errors.js';
import type { NixPathInfoSource } from './path-info-source.js';
import type { PendingUploads } from './pending-uploads.js';

/** Parses, checks and stores the narinfo `body` PUT at /<hashPart>.narinfo; resolves to the PathInfo put. */
export async function acceptNarinfo(hashPart: string, body: Uint8Array, pending: PendingUploads, pathInfos: NixPathInfoSource): Promise<PathInfo> {
  let narinfo: Narinfo;
  try {
    narinfo = parseNarinfo(body);
  } catch (err: unknown) {
    if (err instanceof CastorError) throw new NixCacheError(400, 'BAD_UPLOAD', err.message, err.value, { cause: err });
    throw err;
  }
  const path = parseStorePath(narinfo.storePath);
  if (path.hashPart !== hashPart) {
    throw new NixCacheError(400, 'BAD_UPLOAD', `narinfo for ${narinfo.storePath} PUT at /${hashPart}.narinfo`, narinfo.storePath);
  }
  const nar = pending.get(narinfo.url);
  if (nar === undefined) {
    throw new NixCacheError(409, 'BAD_UPLOAD', `narinfo of ${narinfo.storePath} names ${narinfo.url}, which was not uploaded (or its upload expired): PUT the NAR first`, narinfo.url);
  }
  const mismatch = (what: string, claimed: string, actual: string): never => {
    throw new NixCacheError(400, 'BAD_UPLOAD', `narinfo of ${narinfo.storePath} claims ${what} ${claimed}, but ${narinfo.url} has ${actual}`, claimed);
  };
  if (!Buffer.from(narinfo.narHash).equals(nar.narHash)) mismatch('NarHash', `sha256:${nix32Encode(narinfo.narHash)}`, `sha256:${nix32Encode(nar.narHash)}`);
  if (narinfo.narSize !== nar.narSize) mismatch('NarSize', String(narinfo.narSize), String(nar.narSize));
  if (narinfo.fileHash !== undefined && !Buffer.from(narinfo.fileHash).equals(nar.fileHash)) {
    mismatch('FileHash', `sha256:${nix32Encode(narinfo.fileHash)}`, `sha256:${nix32Encode(nar.fileHash)}`);
  }
  if (narinfo.fileSize !== undefined && narinfo.fileSize !== nar.fileSize) mismatch('FileSize', String(narinfo.fileSize), String(nar.fileSize));
  const info: PathInfo = {
    storePath: narinfo.storePath,
    node: nar.node,
    narHash: nar.narHash,
    narSize: nar.narSize,
    references: narinfo.references,
    ...(narinfo.deriver !== undefined && { deriver: narinfo.deriver }),
    signatures: narinfo.signatures,
    ...(narinfo.ca !== undefined && { ca: narinfo.ca }),
  };
  try {
    await pathInfos.put(info);
  } catch (err: unknown) {
    // Refused (missing references, untrusted signature) or not stored: a 4xx either way,
    // as Nix 2.8 hangs on a 5xx answer to a PUT.
    const message = err instanceof Error ? err.message : String(err);
    const status = err instanceof NarinfoError || err instanceof CastorError ? 403 : 400;
    throw new NixCacheError(status, 'REFUSED', `${narinfo.storePath} refused: ${message}`, narinfo.storePath, { cause: err });
  }
  return info;
}
