// /castor/directory/1, asking side: a Directory or a whole tree from a peer. Every
// Directory is checked by DirectoryTreeVerifier as it arrives (the next one breadth-first,
// hashing to the digest its parent names, with the size its parent claims), so nothing
// unverified is yielded; the answer is read only until the tree is complete.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { decodeDirectory, type Directory } from '../../store/index.js';
import type { Digest } from '../../store/index.js';
import { DirectoryTreeVerifier } from '../../store/index.js';
import { MAX_DIRECTORY_BYTES } from '../limits.js';
import { closeStream } from '../stream-io.js';
import { openExchange, peerError, readHeader, type Exchange, type RequestOptions } from './client.js';
import { DirectoryRequest, DirectoryResponse, Status } from './exchange-pb.js';
import { DIRECTORY_PROTOCOL } from './ids.js';

async function open(host: Libp2p, peer: PeerId, digest: Digest, recursive: boolean, options: RequestOptions): Promise<Exchange | undefined> {
  const request = DirectoryRequest.encode({ digest: new Uint8Array(digest), recursive });
  const ex = await openExchange(host, peer, DIRECTORY_PROTOCOL, request, options);
  const header = await readHeader(ex, (b) => DirectoryResponse.decode(b), digest);
  if (header.status === Status.NOT_FOUND) {
    await closeStream(ex.stream);
    return undefined;
  }
  return ex;
}

/**
 * The tree of `root` from `peer`, each Directory verified before it is yielded, root first
 * then breadth-first; `verifier` is left complete (its leavesFirst() is the tree in the
 * order a store takes it). Undefined if the peer does not have `root`.
 */
export async function requestTree(
  host: Libp2p, peer: PeerId, root: Digest, verifier: DirectoryTreeVerifier, options: RequestOptions = {},
): Promise<AsyncGenerator<Directory> | undefined> {
  const ex = await open(host, peer, root, true, options);
  if (ex === undefined) return undefined;
  return (async function* () {
    let done = false;
    try {
      while (!verifier.complete()) {
        const bytes = await ex.bytes.readMessageOrEnd(MAX_DIRECTORY_BYTES, 'Directory');
        if (bytes === undefined) break;
        yield verifier.accept(decodeDirectory(bytes));
      }
      verifier.finish();
      done = true;
    } catch (err: unknown) {
      throw peerError(err, ex.peer, root);
    } finally {
      if (done) await closeStream(ex.stream);
      else ex.stream.abort(new Error('tree not taken'));
    }
  })();
}

/** One Directory from `peer`, checked against `digest`; undefined if the peer has none. */
export async function requestDirectory(host: Libp2p, peer: PeerId, digest: Digest, options: RequestOptions = {}): Promise<Directory | undefined> {
  const ex = await open(host, peer, digest, false, options);
  if (ex === undefined) return undefined;
  try {
    const bytes = await ex.bytes.readMessage(MAX_DIRECTORY_BYTES, 'Directory');
    // Only the root is checked: the verifier is not asked to complete the tree.
    const dir = new DirectoryTreeVerifier(digest, `peer ${ex.peer}`).accept(decodeDirectory(bytes));
    await closeStream(ex.stream);
    return dir;
  } catch (err: unknown) {
    ex.stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw peerError(err, ex.peer, digest);
  }
}
