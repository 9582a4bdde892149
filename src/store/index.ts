// The face of src/store: what code outside this folder may import from it.

export { BLOB_GROUP_LOG, type BlobService, type BlobStat, type BlobWriter, checkDigest, checkReadRange, type ChunkRef, CorruptRecordError, type Digest, type ReadRange } from './blob-service.js';
export { decodeDirectory, type Directory, encodeDirectory, type Node, nodesOf, validateName } from './castore/index.js';
export { type ChunkerOptions, chunkStream, cutParams, DEFAULT_CHUNKER } from './chunking/index.js';
export { type OpenedStore, registerStoreScheme, StoreSpecError } from './compose/index.js';
export { asDigest, DIGEST_LENGTH, digestEquals, formatDigest, InvalidDigestError, parseDigest } from './digest.js';
export { DirectoryTreeVerifier } from './directories/index.js';
export { type DirectoryService, MissingChildError } from './directory-service.js';
export { checkOutboardHeader, type DataDir, decodeHead, oneGroupBlobSize, oneGroupRecord, openChunkSync, openDataDir, RECORD_HEAD_LEN, type RecordHead, resolveDataDir } from './disk/index.js';
export { DataDirMissingError, fsError, FsLayout, isNotFound } from './fs/index.js';
export { exportNode, findDigest, type Found, ingestPath, showPath } from './ingest/index.js';
export { addPin, DEFAULT_GRACE_MS, DEFAULT_TMP_AGE_MS, fsck, type FsckNote, type FsckProblem, type FsckSummary, type FsckTmpLeftover, gc, type GcSummary, listPins, type Pin, removePin } from './maintenance/index.js';
export { cacheOutboard, PartialBlob } from './partial/index.js';
export { type AcceptedRoot, BadSignatureError, checkRoot, decodeRootBundle, decodeSignedRoot, describeRoot, encodeIndex, encodeRootBundle, encodeSignedRoot, EquivocationError, type IndexEntry, IndexView, isTrustedKey, MAX_INDEX_BYTES, type NixInfo, parseKeyList, readIndexBlob, RollbackError, type RootBundle, scanIndex, showRootKey, type SignedRoot, signRoot, sortEntries, trustedKeyArg, TrustStore, unixSeconds, UntrustedKeyError, verifyRootSignature } from './trust/index.js';
export { limit } from './util/index.js';
export * from './nix/index.js';
