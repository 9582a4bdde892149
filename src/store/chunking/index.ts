// The face of src/store/chunking: what code outside this folder may import from it.

export { type Chunk, chunkBuffer, type ChunkerOptions, chunkStream, cutParams, DEFAULT_CHUNKER, FastCdcChunker, MAXIMUM_MAX } from './fastcdc.js';
