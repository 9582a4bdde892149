// The trust layer: signed roots over an Index of names, the rules for accepting them,
// what a data dir remembers of them, and lookups through them.

export { type AcceptContext, type Verdict, checkRoot, isTrustedKey, unixSeconds } from './accept.js';
export {
  BadSignatureError, EquivocationError, ExpiredRootError, IndexDigestMismatchError, IndexSizeMismatchError,
  InvalidIndexError, type InvalidIndexReason, MalformedRootError, RollbackError, TrustConfigError, UntrustedKeyError,
} from './errors.js';
export { trustRoots } from './gc-roots.js';
export { IndexMissingError, readIndexBlob, storeIndexBlob } from './index-blob.js';
export { decodeEntryAt, encodeEntry, encodeIndex, entryNameAt, entryNodeAt, entrySpanEnd, sortEntries } from './index-codec.js';
export { IndexView } from './index-lookup.js';
export { BLOCK_ENTRIES, LookupTable, buildLookupTable, findInBlock } from './lookup-table.js';
export * from './index-model.js';
export { scanIndex } from './index-scan.js';
export { checkNixInfo, decodeNixInfo, encodeNixInfo } from './nix-info.js';
export { BUNDLE_MAGIC, type RootBundle, decodeRootBundle, encodeRootBundle } from './root-bundle.js';
export {
  MAX_KEY_NAME_BYTES, ROOT_SIGNING_DOMAIN, type RootFields, type SignedRoot, checkRootFields, decodeSignedRoot,
  describeRoot, encodeEquivocation, encodeSignedRoot, rootKey, rootSigningBytes, showRootKey, signRoot, verifyRootSignature,
} from './signed-root.js';
export { type AcceptedRoot, TrustState, TrustStateError } from './trust-state.js';
export { type AcceptResult, NoRootError, type PublishChanges, PublishError, TrustStore, type TrustStoreOptions } from './trust-store.js';
export { CONFIG_TRUSTED_KEYS, configTrustedKeys, parseKeyList, trustedKeyArg, uniqueKeys } from './trusted-keys.js';
