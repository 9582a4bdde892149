// The face of src/node/protocols: what code outside this folder may import from it.

export { type BlobAnswer, decodeAnswer, requestBlob } from './blob-request.js';
export { blobHandler } from './blob-serve.js';
export { requestDirectory, requestTree } from './directory-request.js';
export { directoryHandler } from './directory-serve.js';
export { BLOB_PROTOCOL, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, PATH_INFO_PROTOCOL, STAT_PROTOCOL } from './ids.js';
export { requestRoot } from './index-request.js';
export { indexHandler } from './index-serve.js';
export { ExchangeServer, type ProtocolHandler } from './server.js';
export { type PeerStat, requestStat } from './stat-request.js';
export { statHandler } from './stat-serve.js';
export { requestPathInfo } from './path-info-request.js';
export { pathInfoHandler } from './path-info-serve.js';
