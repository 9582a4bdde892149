// bao verified streaming: outboards, combined encodings and slices at any
// chunk-group log, and decoders that release only verified bytes.

export * from './shape.js';
export * from './ranges.js';
export * from './readers.js';
export * from './sources.js';
export { walk, type Step } from './traverse.js';
export { decode, type DecodeOptions } from './decode.js';
export { extractSlice, type Sink } from './slice.js';
export { buildOutboard, outboardFile, outboardOf, writeCombined, encodeBytes, withHeader, type Outboard } from './encode.js';
export { verifiedSliceBlocks, type ContentSource, type VerifiedSliceOptions } from './verified-slice-blocks.js';
export { PARENT_LEN } from './shape.js';
export { LengthMismatchError, type VerifiedOutboard, verifyOutboard } from './verify-outboard.js';
