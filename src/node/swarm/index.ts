// The face of src/node/swarm: what code outside this folder may import from it.

export { InOrderFeeder } from './in-order-feeder.js';
export { PeerSource } from './peer-source.js';
export { servedBytes } from './served-bytes.js';
export { dropPeer, type PeerDroppedEvent, SwarmFetch, type SwarmOptions } from './swarm-fetch.js';
