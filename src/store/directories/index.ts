// The face of src/store/directories: what code outside this folder may import from it.

export { DirectoryTreeVerifier } from './directory-tree-verifier.js';
export { FsDirectoryService } from './fs-directory-service.js';
export { MemoryDirectoryService } from './memory-directory-service.js';
