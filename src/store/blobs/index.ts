// The face of src/store/blobs: what code outside this folder may import from it.

export { MemoryBlobService } from './memory-blob-service.js';
export { verifiedRead } from './verified-read.js';
