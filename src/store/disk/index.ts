// The face of src/store/disk: what code outside this folder may import from it.

export { ChunkTable } from './chunk-table.js';
export { type DataDir, openDataDir, resolveDataDir } from './data-dir.js';
export { checkOutboardHeader, chunkDigest, decodeHead, RECORD_HEAD_LEN, type RecordHead } from './fs-record.js';
export { oneGroupBlobSize, oneGroupRecord } from './one-group-blob.js';
export { type ScannedEntry } from './packs/index.js';
export { INDEX_SUFFIX, listPacks, PACK_SUFFIX, packIndex, type PackView, readPackView } from './packs/index.js';
export { type EntryCheck, packRewritable, removeIndexOf, rewritePack, rewritePacks, verifyPackEntries } from './packs/index.js';
export { sealPacks } from './packs/index.js';
export { type ChunkHandle, openChunk, openChunkSync } from './packs/index.js';
export { loadRecord, readAt, readChunkTable, readSome } from './record-file.js';
