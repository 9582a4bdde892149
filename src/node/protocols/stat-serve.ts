// /castor/stat/1, serving side: a blob's size, outboard, chunk list and which groups
// this node holds, for a blob in the store (all groups) or one being downloaded (the
// groups its partial holds). The header is a message; the bulk follows as raw bytes.

import { Uint8ArrayList } from 'uint8arraylist';
import { groupCount } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type ChunkRef } from '../../store/index.js';
import { PartialBlob } from '../../store/index.js';
import { send } from '../stream-io.js';
import { checkRequestDigest } from './blob-serve.js';
import { StatRequest, StatResponse, Status } from './exchange-pb.js';
import { STAT_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';

/** Bytes of one chunk entry: 32-byte digest, 8-byte little-endian size. */
export const CHUNK_ENTRY_BYTES = 40;

export function encodeChunks(chunks: readonly ChunkRef[]): Uint8Array {
  const out = new Uint8Array(chunks.length * CHUNK_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    const at = i * CHUNK_ENTRY_BYTES;
    out.set(c.digest, at);
    // The u64 as two u32 halves: no BigInt per entry (a 1 GiB blob has about 16,000).
    view.setUint32(at + 32, c.size % 0x100000000, true);
    view.setUint32(at + 36, Math.floor(c.size / 0x100000000), true);
  }
  return out;
}

/** A bitfield of `count` groups, all held. */
export function fullBitfield(count: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(count / 8)).fill(0xff);
  if (count % 8 !== 0) out[out.length - 1] = (1 << (count % 8)) - 1;
  return out;
}

interface StatAnswer {
  size: number;
  outboard: Uint8Array;
  chunks: Uint8Array;
  chunkCount: number;
  bitfield: Uint8Array;
  complete: boolean;
}

async function lookUp({ data }: ServeSources, digest: ReturnType<typeof checkRequestDigest>): Promise<StatAnswer | undefined> {
  const st = await data.blobs.stat(digest);
  if (st !== undefined) {
    return {
      size: st.size, outboard: st.outboard, chunks: encodeChunks(st.chunks), chunkCount: st.chunks.length,
      bitfield: fullBitfield(groupCount(st.size, BLOB_GROUP_LOG)), complete: true,
    };
  }
  const partial = await PartialBlob.peek(data, digest);
  if (partial === undefined) return undefined;
  try {
    return {
      size: partial.size, outboard: partial.tree.outboard, chunks: new Uint8Array(0), chunkCount: 0,
      bitfield: partial.heldBitfield(), complete: partial.isComplete,
    };
  } finally {
    await partial.close();
  }
}

async function serveStat(request: Uint8Array, out: Responder, sources: ServeSources): Promise<void> {
  let req: StatRequest;
  try {
    req = StatRequest.decode(request);
  } catch (err: unknown) {
    throw new BadRequestError(`stat request does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  const digest = checkRequestDigest(req.digest);
  const a = await lookUp(sources, digest);
  if (a === undefined) {
    await out.header(StatResponse.encode({ status: Status.NOT_FOUND, size: 0n, outboardLength: 0, chunkCount: 0, bitfieldLength: 0, complete: false, error: '' }));
    return;
  }
  const { outboard } = a;
  await out.header(StatResponse.encode({
    status: Status.OK, size: BigInt(a.size), outboardLength: outboard.length, chunkCount: a.chunkCount,
    bitfieldLength: a.bitfield.length, complete: a.complete, error: '',
  }));
  const body = new Uint8ArrayList(outboard, a.chunks, a.bitfield);
  await send(out.stream, body);
}

export const statHandler: ProtocolHandler = {
  protocol: STAT_PROTOCOL,
  errorHeader: (status, error) => StatResponse.encode({ status, size: 0n, outboardLength: 0, chunkCount: 0, bitfieldLength: 0, complete: false, error }),
  serve: serveStat,
};
