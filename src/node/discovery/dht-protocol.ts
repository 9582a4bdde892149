// castor's kad-dht protocol id, in a module of its own so the CLI can name it without
// loading libp2p. A private protocol: castor nodes form their own DHT, never the public
// IPFS one (whose peers would neither hold castor content nor accept its keys).

export const DHT_PROTOCOL = '/castor/kad/1.0.0';
