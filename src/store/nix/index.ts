// The face of src/store/nix: Nix's formats over castore (NARs in and out; store paths).

export { NarAbandonedError, NarFileSizeError, NarFormatError, type NarFormatReason, NarMissingBlobError } from './nar-errors.js';
export { ingestNar, type NarIngestOptions, type NarIngestResult } from './nar-ingest.js';
export { MAX_NAR_DEPTH, type NarEvent, readNar } from './nar-reader.js';
export { narHashOf, NarRender, type NarRenderOptions, type NarSummary, renderNar } from './nar-render.js';
export { type CaMethod, canonicalContentAddress, type ContentAddress, formatContentAddress, InvalidContentAddressError, parseContentAddress } from './content-address.js';
export { decompress, DecompressError, type DecompressOptions, type DecompressReason } from './decompress.js';
export { decodePrefixedHash, formatNixHash, type HashAlgo } from './hash-text.js';
export { COMPRESSIONS, type Compression, formatNarinfo, MAX_NARINFO_BYTES, type Narinfo, NarinfoError, type NarinfoReason, parseNarinfo } from './narinfo.js';
export {
  checkPathInfo, fromIndexEntry, fromNixInfo, InvalidPathInfoError, isSignedBy, NAR_HASH_BYTES, narHashText, type PathInfo,
  pathInfoFingerprint, signPathInfo, toIndexEntry, toNixInfo, validSignatureKeys,
} from './path-info.js';
export {
  checkHashPart, checkStorePathName, compareStorePaths, HASH_PART_BYTES, HASH_PART_LENGTH, hashPartBytes, InvalidStorePathError,
  type InvalidStorePathReason, isStorePath, MAX_NAME_LENGTH, parseBaseName, parseStorePath, STORE_DIR, type StorePath,
} from './store-path.js';
export { MAX_ZSTD_WINDOW } from './zstd-frames.js';
export {
  CorruptPathInfoError, MissingReferenceError, MissingRootError, NIX_DIR, NixSignatureError, PATH_INFO_DIR, PathConflictError,
  PathInfoStore, type PathInfoStoreOptions, pathInfoRoots, PathInUseError, type PutOptions, rootDigestOf,
} from './path-info-store.js';
export { type BinaryCache, BinaryCacheError, type BinaryCacheReason, CACHE_IDLE_TIMEOUT_MS, openBinaryCache } from './binary-cache.js';
export { caStorePath, checkCaStorePath, ContentAddressMismatchError } from './ca-store-path.js';
export { type CacheImportOptions, type CacheImportResult, importFromCache, type PathInfoSink, PathNotInCacheError } from './cache-import.js';
export { importNar, type NarImportExpect, type NarImportOptions, type NarImportResult, NarMismatchError } from './nar-import.js';
export { pathTrust, type PathTrust, UntrustedPathError } from './path-trust.js';
export { CONFIG_TRUSTED_NIX_KEYS, configTrustedNixKeys } from './trusted-nix-keys.js';
export { decodePathInfo, encodePathInfo } from './path-info-wire.js';
