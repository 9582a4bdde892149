// The face of src/store/fs: what code outside this folder may import from it.

export { ensureDir, moveInto, moveIntoSync, syncDir, writeSynced } from './atomic-write.js';
export { DataDirMissingError, errnoOf, fsError, isNotFound, pathExists, ReadOnlyStoreError } from './fs-errors.js';
export { FsLayout } from './fs-layout.js';
export { shardEntries, type ShardEntry, storedEntries, type StoredEntry } from './shard-walk.js';
export { syncFileSystem } from './sync-fs.js';
