// The face of src/verify: what code outside this folder may import from it.

export { buildOutboard, type ByteRange, type ByteReader, BytesReader, CombinedSource, type ContentSource, decode, decodeLength, DEFAULT_GROUP_LOG, encodeBytes, encodeLength, extractSlice, FileReader, groupBytes, groupCount, HEADER_LEN, joinPieces, MAX_GROUP_LOG, normalizeRanges, type Outboard, outboardFile, outboardOf, outboardSize, OutboardSource, sliceSource, StreamReader, type TreeSource, verifiedSliceBlocks, walk, WHOLE, withHeader, writeCombined } from './bao/index.js';
export { PARENT_LEN } from './bao/index.js';
export { LengthMismatchError, type VerifiedOutboard, verifyOutboard } from './bao/index.js';
export { blake3, type Blake3Kernel, defaultKernel, handleTreeHash, HASH_MODE, HashClient, Hasher, hashFile, isTreeHashMessage, PIECE_MAX, RemoteHasher, toHex, type TreeHashMessage, type TreeHashReply } from './blake3/index.js';
export { createKernel } from './blake3/index.js';
export { subtreeOutput } from './blake3/index.js';
export { closeWorkerPool } from './blake3/index.js';
export { CastorError, HashMismatchError, InvalidInputError, UnexpectedEofError } from './errors.js';
export { verify, checkKeyName, formatPublicKey, formatSecretKey, formatSignature, generateKeyPair, MalformedKeyError, MalformedSignatureError, parsePublicKey, parseSecretKey, parseSignature, PUBLIC_KEY_BYTES, type PublicKey, publicKeyOf, type SecretKey, sign, SIGNATURE_BYTES } from './keys.js';
export { narinfoFingerprint, nix32Decode, nix32Encode, normalizeNarHash, parseFingerprint, signFingerprint, verifyFingerprint } from './nix-fingerprint.js';
