// A blob's size, as peers claim it, proved the one way bao allows: the final group
// verifying against the digest under that size. An outboard's parents cannot tell apart
// sizes that end in the same final group (the tree keeps its shape), so a verified
// outboard proves the shape, not the size. A partial download is therefore begun only
// with a proved size, and every later claim is judged against a proof, never against
// whichever claim came first.

import type { Libp2p } from '@libp2p/interface';
import { groupBytes, groupCount } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type Digest } from '../../store/index.js';
import { PeerFailedError, PeerMisbehavedError } from '../errors.js';
import { SIZE_PROOF_TIMEOUT } from '../limits.js';
import { decodeAnswer, requestBlob, type PeerStat } from '../protocols/index.js';
import type { PeerSource } from '../swarm/index.js';

/** A size proved by a peer's final group, and that group's verified bytes. */
export interface SizeProof {
  readonly source: PeerSource;
  /** The stat whose size was proved (its outboard verified against the digest). */
  readonly stat: PeerStat;
  readonly size: number;
  /** Content offset of the final group. */
  readonly start: number;
  readonly finalGroup: Uint8Array;
}

/** Whether the peer's stat says it holds the final group of the size it claims. */
export function holdsFinalGroup(source: PeerSource): boolean {
  const st = source.stat;
  if (st === undefined) return false;
  const holds = source.holds;
  return holds === undefined || holds(groupCount(st.size, BLOB_GROUP_LOG) - 1);
}

/**
 * Asks `source` for the final group of the size its stat claims and verifies it.
 * Resolves to the proof, or undefined if the peer no longer has the blob. A peer whose
 * answer contradicts its stat or does not verify: PeerMisbehavedError. No answer within
 * SIZE_PROOF_TIMEOUT: PeerFailedError. An abort of `signal`: its reason.
 */
export async function proveSize(host: Libp2p, source: PeerSource, digest: Digest, signal?: AbortSignal): Promise<SizeProof | undefined> {
  const st = source.stat;
  if (st === undefined) return undefined;
  const start = (groupCount(st.size, BLOB_GROUP_LOG) - 1) * groupBytes(BLOB_GROUP_LOG);
  const deadline = AbortSignal.timeout(SIZE_PROOF_TIMEOUT);
  const both = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
  try {
    const answer = await requestBlob(host, source.id, digest, [{ start, end: st.size }], { signal: both });
    if (answer === undefined) return undefined;
    if (answer.claimedSize !== st.size) {
      answer.exchange.stream.abort(new Error('size differs from its stat'));
      throw new PeerMisbehavedError(source.name, digest, `its stat says ${st.size} bytes, its blob answer ${answer.claimedSize}`);
    }
    let proved = false;
    const parts: Uint8Array[] = [];
    for await (const piece of decodeAnswer(answer, { onLength: () => { proved = true; } })) parts.push(piece.slice());
    if (!proved) throw new PeerMisbehavedError(source.name, digest, 'its answer for the final group did not prove the size');
    return { source, stat: st, size: st.size, start, finalGroup: new Uint8Array(Buffer.concat(parts)) };
  } catch (err: unknown) {
    signal?.throwIfAborted();
    if (deadline.aborted && !(err instanceof PeerMisbehavedError)) {
      throw new PeerFailedError(source.name, `sent no final group within ${SIZE_PROOF_TIMEOUT} ms`, { cause: err });
    }
    throw err;
  }
}
