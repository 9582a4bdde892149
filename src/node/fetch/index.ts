// The face of src/node/fetch: what code outside this folder may import from it.

export { fetchBlob, type FetchContext, type PeerDroppedEvent } from './fetch-blob.js';
export { fetchRoot } from './fetch-root.js';
export { fetchTree } from './fetch-tree.js';
export { probeKind, type ProbeResult } from './probe-kind.js';
