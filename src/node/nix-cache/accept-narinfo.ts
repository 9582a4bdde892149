// PUT /<hash>.narinfo: the narinfo of an uploaded NAR. It must name a pending upload, and
// claim the NarHash and NarSize its ingest computed; then its path (that tree, with the
// narinfo's references, deriver, signatures and CA) goes to the PathInfo store, which
// checks references and signatures. Every refusal is a 4xx with a one-line reason.

import { CastorError, nix32Encode, type PublicKey } from '../../verify/index.js';
import {
  type BlobService, type DirectoryService, type Narinfo, parseNarinfo, parseStorePath, type PathInfo, pathTrust, UntrustedPathError,
} from '../../store/index.js';
import { checkCaContent } from './ca-content.js';
import { NixCacheError } from './errors.js';
import type { NixPathInfoSource } from './path-info-source.js';
import { parseNarFileName } from './nar-file-name.js';
import type { PendingNar, PendingUploads } from './pending-uploads.js';
import type { UploadNames } from './upload-names.js';

export interface AcceptContext {
  readonly pending: PendingUploads;
  readonly names: UploadNames;
  readonly sync?: (() => Promise<void>) | undefined;
  readonly pathInfos: NixPathInfoSource;
  /** Keys whose signature admits an input-addressed path. */
  readonly trustedKeys: readonly PublicKey[];
  readonly store: { blobs: BlobService; directories: DirectoryService };
}

/** Status of a refusal by the PathInfo store, by its code. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  NIX_SIGNATURE: 403, UNTRUSTED_PATH: 403, CA_MISMATCH: 403, NIX_MISSING_REFERENCE: 409, NIX_PATH_CONFLICT: 409,
};

/** Parses, checks and stores the narinfo `body` PUT at /<hashPart>.narinfo; resolves to the PathInfo put. */
export async function acceptNarinfo(hashPart: string, body: Uint8Array, context: AcceptContext): Promise<PathInfo> {
  const { pending, names, pathInfos, trustedKeys } = context;
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
  const nar = pending.get(narinfo.url) ?? await uploadedBefore(narinfo, names, pathInfos);
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
  if (narinfo.fileSize !== undefined && nar.fileSize !== 0 && narinfo.fileSize !== nar.fileSize) mismatch('FileSize', String(narinfo.fileSize), String(nar.fileSize));
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
    // A trusted signature, or a CA that gives the store path (then the content must match it).
    const trust = pathTrust(info, trustedKeys, true);
    if (trust.by === 'content-address') await checkCaContent(info.storePath, trust.ca, nar.node, nar.narHash, context.store);
    await context.sync?.();
    await pathInfos.put(info, { trustedKeys });
  } catch (err: unknown) {
    if (err instanceof NixCacheError) throw err;
    // Refused (missing references, untrusted signature) or not stored: a 4xx either way,
    // as Nix 2.8 hangs on a 5xx answer to a PUT.
    const message = err instanceof Error ? err.message : String(err);
    const status = err instanceof UntrustedPathError ? 403 : err instanceof CastorError ? REFUSAL_STATUS[err.code] ?? 400 : 400;
    throw new NixCacheError(status, 'REFUSED', `refused: ${message}`, narinfo.storePath, { cause: err });
  }
  // The uploader's Nix remembers this narinfo, URL and all: answer for that name from now on.
  await names.record(narinfo.url.slice('nar/'.length), hashPart);
  return info;
}

/**
 * The NAR an earlier upload under the same name became (the same NAR for another store
 * path, e.g. two content-addressed paths with equal contents: Nix saw the file present
 * and did not upload it again), as a pending upload with the narinfo's own file fields.
 */
async function uploadedBefore(narinfo: Narinfo, names: UploadNames, pathInfos: NixPathInfoSource): Promise<PendingNar | undefined> {
  const file = narinfo.url.startsWith('nar/') ? parseNarFileName(narinfo.url.slice(4)) : undefined;
  if (file?.kind !== 'uploaded') return undefined;
  const hashPart = await names.lookup(narinfo.url.slice(4));
  const info = hashPart === undefined ? undefined : await pathInfos.get(hashPart);
  if (info?.node === undefined) return undefined;
  return { node: info.node, narHash: info.narHash, narSize: info.narSize, fileHash: narinfo.fileHash ?? file.fileHash, fileSize: narinfo.fileSize ?? 0 };
}
