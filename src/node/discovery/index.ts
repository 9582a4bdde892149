// The face of src/node/discovery: what code outside this folder may import from it.

export { Announcer, type AnnouncerOptions, DEFAULT_REANNOUNCE_INTERVAL } from './announcer.js';
export { contentKey, type DhtKey, rootKey, storePathKey } from './dht-key.js';
export { DHT_PROTOCOL } from './dht-protocol.js';
export { NoProviderError, type Searched } from './errors.js';
export { DHT_LOOKUP_TIMEOUT, dhtProviders, dhtReady, type FindOptions, findProviders, type Found, MAX_DHT_PROVIDERS } from './find-providers.js';
export { noteFetched } from './provided.js';
