// The node layer: a libp2p host (TCP, Noise, yamux, identify, ping) with a persistent
// identity, the four castor protocols (/castor/blob/1, /castor/stat/1,
// /castor/directory/1, /castor/index/1: protos/exchange.proto, limits in limits.ts),
// fetching blobs (resumable), trees and signed roots with everything verified before it
// is stored, and peers as a read-only store tier (`p2p://`). CastorNode is its face.
//
// Discovery (src/node/discovery): kad-dht on /castor/kad/1.0.0 with sha2-256 keys of
// namespaced preimages, announcing held roots and publisher keys' roots; mDNS on the LAN
// when asked; finding providers through connected peers, then the DHT.

export { CastorNode, HANDLERS, type CastorNodeConfig, type FetchOptions, type FetchResult, type FetchRootOptions } from './castor-node.js';
export { DialError, InvalidPeerAddressError, NotFoundOnPeersError, PeerFailedError, PeerMisbehavedError, RemoteError } from './errors.js';
export { DEFAULT_LISTEN, DHT_PROTOCOL, createHost, parseMultiaddr, type Host, type HostOptions, type HostServices } from './host.js';
export { Announcer, DEFAULT_REANNOUNCE_INTERVAL, type AnnouncerOptions } from './discovery/index.js';
export { contentKey, rootKey, storePathKey, type DhtKey } from './discovery/index.js';
export { NoProviderError, type Searched } from './discovery/index.js';
export { DHT_LOOKUP_TIMEOUT, MAX_DHT_PROVIDERS, dhtProviders, dhtReady, findProviders, type FindOptions, type Found } from './discovery/index.js';
export { IDENTITY_FILE, IdentityError, loadOrCreateIdentity } from './identity.js';
export * from './limits.js';
export { RemoteBlobService, ReadOnlyTierError, type PeerSet } from './remote/index.js';
export { RemoteDirectoryService } from './remote/index.js';
export { setRunningHost } from './remote/index.js';
export { BLOB_PROTOCOL, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, PATH_INFO_PROTOCOL, STAT_PROTOCOL } from './protocols/index.js';
export { requestPathInfo } from './protocols/index.js';
export { checkAddresses, CONFIG_ANNOUNCE, CONFIG_BOOTSTRAP, CONFIG_LISTEN, mergeNetworkConfig, type NetworkConfig, NetworkConfigError, readNetworkConfig } from './config.js';
export { claimDataDir, ControlError, controlJson, controlRequest, type ControlServer, type DaemonClaim, type Endpoint, isNotListening, listenControl, NoDaemonError, pidAlive, readDaemonState, readJsonBody } from './control.js';
export { fetchBlob } from './fetch/index.js';
export { Pipeline } from './pipeline.js';
export { decodeAnswer, requestBlob } from './protocols/index.js';
export { send, StreamInput } from './stream-io.js';
export { InOrderFeeder } from './swarm/index.js';
export { servedBytes } from './swarm/index.js';
export { decodeTicket, encodeTicket, InvalidTicketError, looksLikeTicket, type Ticket, ticketDialAddresses } from './ticket.js';
export {
  CONFIG_HTTP, CONFIG_HTTP_REMOTE_UPLOADS, CONFIG_NIX_UPSTREAMS, InvalidHttpAddressError, NixCacheError, NixCacheServer, type NixCacheOptions, type NixPathInfoSource,
  type NixSubstituter, parseHttpAddress, PeerSubstituter, readHttpConfig, SubstituteError, UpstreamSubstituter,
} from './nix-cache/index.js';
