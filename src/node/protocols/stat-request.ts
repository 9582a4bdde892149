// /castor/stat/1, asking side: what a peer says about a blob. Every length is checked
// against what the claimed size implies before anything is read, and the outboard is
// verified against the digest (its parents up to the root) before it is returned; the
// size itself stays a claim until the final group verifies (bao spec).

import type { Libp2p, PeerId } from '@libp2p/interface';
import { groupCount, outboardSize } from '../../verify/index.js';
import { verifyOutboard, type VerifiedOutboard } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type ChunkRef } from '../../store/index.js';
import { asDigest, type Digest } from '../../store/index.js';
import { PeerMisbehavedError } from '../errors.js';
import { MAX_STAT_CHUNKS } from '../limits.js';
import { closeStream } from '../stream-io.js';
import { openExchange, peerError, readHeader, type RequestOptions } from './client.js';
import { Status, StatRequest, StatResponse } from './exchange-pb.js';
import { STAT_PROTOCOL } from './ids.js';
import { CHUNK_ENTRY_BYTES } from './stat-serve.js';

export interface PeerStat {
  readonly peer: string;
  /** The outboard, its parents verified up to the digest for the claimed size. */
  readonly tree: VerifiedOutboard;
  readonly size: number;
  readonly outboard: Uint8Array;
  /** The peer's chunk list (a hint: empty for a partial). */
  readonly chunks: readonly ChunkRef[];
  /** Groups the peer holds, bit i = group i, least significant bit first. */
  readonly bitfield: Uint8Array;
  readonly complete: boolean;
}

function decodeChunks(bytes: Uint8Array): ChunkRef[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: ChunkRef[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_ENTRY_BYTES) {
    out.push({ digest: asDigest(bytes.slice(at, at + 32)), size: Number(view.getBigUint64(at + 32, true)) });
  }
  return out;
}

/** The peer's stat of `digest`, undefined if it holds none of it. */
export async function requestStat(host: Libp2p, peer: PeerId, digest: Digest, options: RequestOptions = {}): Promise<PeerStat | undefined> {
  const ex = await openExchange(host, peer, STAT_PROTOCOL, StatRequest.encode({ digest: new Uint8Array(digest) }), options);
  const h = await readHeader(ex, (b) => StatResponse.decode(b), digest);
  if (h.status === Status.NOT_FOUND) {
    await closeStream(ex.stream);
    return undefined;
  }
  try {
    const lie = (detail: string): never => { throw new PeerMisbehavedError(ex.peer, digest, detail); };
    if (h.size > BigInt(Number.MAX_SAFE_INTEGER)) lie(`stat claims a size of ${h.size} bytes`);
    const size = Number(h.size);
    const groups = groupCount(size, BLOB_GROUP_LOG);
    if (h.outboardLength !== outboardSize(size, BLOB_GROUP_LOG)) lie(`stat sends a ${h.outboardLength}-byte outboard for ${size} bytes (${outboardSize(size, BLOB_GROUP_LOG)} expected)`);
    if (h.bitfieldLength !== Math.ceil(groups / 8)) lie(`stat sends a ${h.bitfieldLength}-byte bitfield for ${groups} groups`);
    if (h.chunkCount > MAX_STAT_CHUNKS || h.chunkCount > Math.max(1, size)) lie(`stat claims ${h.chunkCount} chunks for ${size} bytes`);
    const outboard = await ex.bytes.reader.read(h.outboardLength);
    const chunks = decodeChunks(await ex.bytes.reader.read(h.chunkCount * CHUNK_ENTRY_BYTES));
    const bitfield = (await ex.bytes.reader.read(h.bitfieldLength)).slice();
    let tree: VerifiedOutboard;
    try {
      tree = verifyOutboard(digest, size, outboard, BLOB_GROUP_LOG);
    } catch (err: unknown) {
      lie(`its outboard does not verify: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
    await closeStream(ex.stream);
    return { peer: ex.peer, tree, size, outboard: outboard.slice(), chunks, bitfield, complete: h.complete };
  } catch (err: unknown) {
    ex.stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw peerError(err, ex.peer, digest);
  }
}
