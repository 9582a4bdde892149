// /castor/index/1, asking side: the newest SignedRoot a peer holds for a publisher key,
// decoded strictly (canonical encoding only) and checked to be of the key asked for.
// Whether it is acceptable (trusted, signed, not a rollback) is for the caller's
// TrustStore to judge.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { decodeSignedRoot, type SignedRoot } from '../../store/index.js';
import { digestEquals } from '../../store/index.js';
import { PeerMisbehavedError } from '../errors.js';
import { closeStream } from '../stream-io.js';
import { openExchange, readHeader, type RequestOptions } from './client.js';
import { IndexRequest, IndexResponse, Status } from './exchange-pb.js';
import { INDEX_PROTOCOL } from './ids.js';

/** The peer's newest root for `publicKey`, or undefined if it has none. */
export async function requestRoot(host: Libp2p, peer: PeerId, publicKey: Uint8Array, options: RequestOptions = {}): Promise<SignedRoot | undefined> {
  const ex = await openExchange(host, peer, INDEX_PROTOCOL, IndexRequest.encode({ publicKey: new Uint8Array(publicKey) }), options);
  const h = await readHeader(ex, (b) => IndexResponse.decode(b), undefined);
  await closeStream(ex.stream);
  if (h.status === Status.NOT_FOUND) return undefined;
  let root: SignedRoot;
  try {
    root = decodeSignedRoot(h.signedRoot, `signed root from peer ${ex.peer}`);
  } catch (err: unknown) {
    throw new PeerMisbehavedError(ex.peer, undefined, err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (!digestEquals(root.publicKey, publicKey)) throw new PeerMisbehavedError(ex.peer, undefined, 'it answered with a root of another key');
  return root;
}
