// The castore data model: Directory trees compatible with tvix castore, their
// validation, canonical encoding and digests.

export {
  type Directory, type DirectoryNode, type FileNode, type SymlinkNode, type Node,
  EMPTY_DIRECTORY, MAX_NAME_LENGTH, MAX_TARGET_LENGTH, MAX_UINT64,
  compareNames, directoryFrom, directorySize, nodeName, nodesOf,
} from './model.js';
export { InvalidDirectoryError, type InvalidDirectoryReason, showName } from './errors.js';
export { validateDirectory, validateName, validateNode, type ValidateNodeOptions } from './validate.js';
export { decodeDirectory, decodeNode, directoryDigest, encodeDirectory, encodeNode } from './codec.js';
