// The face of src/store/disk/packs: what code outside this folder may import from it.

export { ENTRY_HEAD, PACK_MAGIC, type PackEntry, readFully, type ScannedEntry } from './pack-format.js';
export { INDEX_SUFFIX, indexPathOf, listPacks, PACK_SUFFIX, packIndex, type PackView, readPackView } from './pack-index.js';
export { type EntryCheck, packRewritable, removeIndexOf, rewritePack, rewritePacks, verifyPackEntries } from './pack-rewrite.js';
export { packWriter, sealPacks, writePackIndex } from './pack-writer.js';
export { PackFiles } from './pack-files.js';
export { type ChunkHandle, knownPackEntry, openChunk, openChunkSync, openPackedChunkSync } from './packed-chunk.js';
