// The face of src/store/util: what code outside this folder may import from it.

export { limit, type Limit } from './concurrency.js';
export { forEachConcurrent, WALK_CONCURRENCY } from './concurrent.js';
export { DigestSet } from './digest-set.js';
export { errnoError, errnoInfo, type ErrnoInfo } from './errno-info.js';
