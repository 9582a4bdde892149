// /castor/path-info/1, asking side: the PathInfo a peer claims for a store path hash part,
// decoded strictly (canonical Index of one entry, every field checked) and checked to be
// of the hash part asked for. Whether it is trusted is for the caller (path-trust.ts), and
// the tree it names must still render to its narHash.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { decodePathInfo, hashPartBytes, parseStorePath, type PathInfo } from '../../store/index.js';
import { PeerMisbehavedError } from '../errors.js';
import { closeStream } from '../stream-io.js';
import { openExchange, readHeader, type RequestOptions } from './client.js';
import { PathInfoRequest, PathInfoResponse, Status } from './exchange-pb.js';
import { PATH_INFO_PROTOCOL } from './ids.js';

/** The PathInfo (with its root node) `peer` holds for `hashPart`, or undefined if it has none. */
export async function requestPathInfo(host: Libp2p, peer: PeerId, hashPart: string, options: RequestOptions = {}): Promise<PathInfo | undefined> {
  const ex = await openExchange(host, peer, PATH_INFO_PROTOCOL, PathInfoRequest.encode({ hash: new Uint8Array(hashPartBytes(hashPart)) }), options);
  const h = await readHeader(ex, (b) => PathInfoResponse.decode(b), undefined);
  await closeStream(ex.stream);
  if (h.status === Status.NOT_FOUND) return undefined;
  let info: PathInfo;
  try {
    info = decodePathInfo(h.entry);
  } catch (err: unknown) {
    throw new PeerMisbehavedError(ex.peer, undefined, `path info for ${hashPart}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (parseStorePath(info.storePath).hashPart !== hashPart) throw new PeerMisbehavedError(ex.peer, undefined, `asked for the path info of ${hashPart}, it answered with ${info.storePath}'s`);
  if (info.node === undefined) throw new PeerMisbehavedError(ex.peer, undefined, `path info of ${info.storePath} without its root node`);
  return info;
}
