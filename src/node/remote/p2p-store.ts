// The `p2p` store scheme: peers as a lower tier of a layered store (src/store/compose/store-spec.ts),
// so `--store fs:///data --store p2p://` reads through to peers with no special case.
//
//   p2p://                     the peers the CastorNode running in this process is connected to
//   p2p:///ip4/…/tcp/…/p2p/ID  that one peer, dialled through the running node, or through a
//                              client-only host of this store's own (random identity, listening nowhere)
//
// A p2p store is never the local tier: it cannot be written. Importing this module
// registers the scheme (castor-node.ts does).

import '../polyfill.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { registerStoreScheme, StoreSpecError, type OpenedStore } from '../../store/index.js';
import { createHost, parseMultiaddr } from '../host.js';
import { DialError } from '../errors.js';
import { DIAL_TIMEOUT } from '../limits.js';
import { RemoteBlobService, type PeerSet } from './remote-blob-service.js';
import { RemoteDirectoryService } from './remote-directory-service.js';

let running: Libp2p | undefined;

/** Makes `host` the node `p2p://` specs use; returns a function that undoes it. */
export function setRunningHost(host: Libp2p): () => void {
  running = host;
  return () => {
    if (running === host) running = undefined;
  };
}

async function openP2p(rest: string, text: string): Promise<OpenedStore> {
  if (rest === '') {
    const host = running;
    if (host === undefined) throw new StoreSpecError(text, 'p2p:// means the peers of the node running in this process, and none runs; name a peer instead: p2p:///ip4/ADDR/tcp/PORT/p2p/PEER_ID');
    const peers: PeerSet = { host, peers: () => host.getPeers() };
    return { blobs: new RemoteBlobService(peers), directories: new RemoteDirectoryService(peers) };
  }
  if (!rest.startsWith('/')) throw new StoreSpecError(text, 'p2p:// takes nothing, or a multiaddr: p2p:///ip4/ADDR/tcp/PORT/p2p/PEER_ID');
  const address = parseMultiaddr(rest);
  const own = running === undefined;
  const host = running ?? await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [] });
  let peer: PeerId;
  try {
    peer = (await host.dial(address, { signal: AbortSignal.timeout(DIAL_TIMEOUT) })).remotePeer;
  } catch (err: unknown) {
    if (own) await host.stop();
    throw new DialError(rest, err instanceof Error ? err.message : String(err), { cause: err });
  }
  const peers: PeerSet = { host, peers: () => [peer] };
  return {
    blobs: new RemoteBlobService(peers),
    directories: new RemoteDirectoryService(peers),
    ...(own && { close: async () => { await host.stop(); } }),
  };
}

registerStoreScheme('p2p', async (spec, context) => {
  if (context.role === 'local') throw new StoreSpecError(spec.text, 'a p2p store is read-only, so it can only be a lower tier (list a local store first)');
  return openP2p(spec.rest, spec.text);
});
