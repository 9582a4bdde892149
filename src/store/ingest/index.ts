// The face of src/store/ingest: what code outside this folder may import from it.

export { exportNode } from './export.js';
export { ingestPath, showPath } from './ingest.js';
export { findDigest, type Found } from './lookup.js';
