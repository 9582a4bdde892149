// The face of src/store/partial: what code outside this folder may import from it.

export { cacheOutboard } from './outboard-cache.js';
export { PartialBlob } from './partial-blob.js';
