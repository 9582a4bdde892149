// The face of src/store/compose: what code outside this folder may import from it.

export { type OpenedStore, registerStoreScheme, StoreSpecError } from './store-spec.js';
export { TierHashMismatchError, TierMissingChildError } from './tier-errors.js';
