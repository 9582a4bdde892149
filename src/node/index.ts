// The node layer: a libp2p host (TCP, Noise, yamux, identify, ping) with a persistent
// identity, the four castor protocols (/castor/blob/1, /castor/stat/1,
// /castor/directory/1, /castor/index/1: protos/exchange.proto, limits in limits.ts),
// fetching blobs (resumable), trees and signed roots with everything verified before it
// is stored, and peers as a read-only store tier (`p2p://`). CastorNode is its face.
//
// Not here yet: discovery beyond bootstrap peers and dials (kad-dht, mDNS), fetching one
// blob from several peers at once.

export { CastorNode, HANDLERS, type CastorNodeConfig, type FetchOptions, type FetchResult, type FetchRootOptions } from './castor-node.js';
export { DialError, InvalidPeerAddressError, NotFoundOnPeersError, PeerFailedError, PeerMisbehavedError, RemoteError } from './errors.js';
export { DEFAULT_LISTEN, createHost, parseMultiaddr, type Host, type HostOptions } from './host.js';
export { IDENTITY_FILE, IdentityError, loadOrCreateIdentity } from './identity.js';
export * from './limits.js';
export { RemoteBlobService, ReadOnlyTierError, type PeerSet } from './remote-blob-service.js';
export { RemoteDirectoryService } from './remote-directory-service.js';
export { setRunningHost } from './p2p-store.js';
export { tamperMode, type TamperMode } from './tamper.js';
export { BLOB_PROTOCOL, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, STAT_PROTOCOL } from './protocols/ids.js';
