// The face of src/node/remote: what code outside this folder may import from it.

export { setRunningHost } from './p2p-store.js';
export { type PeerSet, ReadOnlyTierError, RemoteBlobService } from './remote-blob-service.js';
export { RemoteDirectoryService } from './remote-directory-service.js';
