// The on-disk record of one blob in an FsBlobService: size, FastCDC chunk list and the
// G=4 outboard, in a fixed little-endian layout so a reader can fetch the chunk table
// without the outboard and stream the outboard from the file.
//
//   magic "castorB1" (8) | size u64 (8) | chunk count u32 (4)
//   chunk count × ( digest (32) | size u32 (4) )
//   outboard: length header u64 (8) | parent nodes (64 each, pre-order)

import { defaultKernel, HASH_MODE } from '../../verify/index.js';
import { subtreeOutput } from '../../verify/index.js';
import { outboardSize } from '../../verify/index.js';
import { BLOB_GROUP_LOG, CorruptRecordError, type ChunkRef, type Digest } from '../blob-service.js';
import { asDigest } from '../digest.js';
import { ChunkTable, TABLE_ENTRY_LEN } from './chunk-table.js';

const MAGIC = new TextEncoder().encode('castorB1');
export const RECORD_HEAD_LEN = 20;

export interface RecordHead {
  readonly size: number;
  readonly chunkCount: number;
  /** Where the chunk table starts and how long it is. */
  readonly tableOffset: number;
  readonly tableLength: number;
  /** Where the outboard (with its header) starts. */
  readonly outboardOffset: number;
  readonly recordLength: number;
}

export function encodeRecord(size: number, chunks: readonly ChunkRef[], outboard: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEAD_LEN + TABLE_ENTRY_LEN * chunks.length + outboard.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setBigUint64(8, BigInt(size), true);
  view.setUint32(16, chunks.length, true);
  let at = RECORD_HEAD_LEN;
  for (const c of chunks) {
    out.set(c.digest, at);
    view.setUint32(at + 32, c.size, true);
    at += TABLE_ENTRY_LEN;
  }
  out.set(outboard, at);
  return out;
}

/** Parses and checks the fixed head against the record's real length on disk. */
export function decodeHead(blob: Digest, head: Uint8Array, fileLength: number): RecordHead {
  if (head.length < RECORD_HEAD_LEN) throw new CorruptRecordError(blob, `record is ${head.length} bytes, shorter than its head`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (head[i] !== MAGIC[i]) throw new CorruptRecordError(blob, 'record does not start with castorB1');
  }
  const view = new DataView(head.buffer, head.byteOffset, RECORD_HEAD_LEN);
  const big = view.getBigUint64(8, true);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptRecordError(blob, `size ${big} is out of range`);
  const size = Number(big);
  const chunkCount = view.getUint32(16, true);
  const tableLength = TABLE_ENTRY_LEN * chunkCount;
  const outboardOffset = RECORD_HEAD_LEN + tableLength;
  const recordLength = outboardOffset + outboardSize(size, BLOB_GROUP_LOG);
  if (recordLength !== fileLength) {
    throw new CorruptRecordError(blob, `record is ${fileLength} bytes, but size ${size} and ${chunkCount} chunks make ${recordLength}`);
  }
  if ((size === 0) !== (chunkCount === 0)) throw new CorruptRecordError(blob, `${chunkCount} chunks for size ${size}`);
  return { size, chunkCount, tableOffset: RECORD_HEAD_LEN, tableLength, outboardOffset, recordLength };
}

/** The chunk list; its sizes must be positive and add up to the blob's size. */
export function decodeTable(blob: Digest, head: RecordHead, table: Uint8Array): ChunkRef[] {
  return decodeChunkTable(blob, head, table).list();
}

/** The chunk table without an object per chunk (chunk-table.ts), checked as decodeTable does. */
export function decodeChunkTable(blob: Digest, head: RecordHead, table: Uint8Array): ChunkTable {
  return ChunkTable.decode(blob, head.size, head.chunkCount, table);
}

/** The outboard's own length header must agree with the record's size. */
export function checkOutboardHeader(blob: Digest, head: RecordHead, header: Uint8Array): void {
  const len = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0, true);
  if (len !== BigInt(head.size)) throw new CorruptRecordError(blob, `outboard length header ${len} differs from the record size ${head.size}`);
}

/**
 * The BLAKE3 digest a chunk is stored under. Not `blake3()`: that builds a streaming Hasher
 * with a 1 MiB batch buffer per call, about 30x the cost of hashing a 4 KiB chunk itself.
 */
export function chunkDigest(data: Uint8Array): Digest {
  return asDigest(subtreeOutput(defaultKernel(), data, 0, HASH_MODE).rootBytes(32));
}
