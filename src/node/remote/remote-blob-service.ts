// RemoteBlobService: the BlobService contract over the peers a node is connected to, so
// a LayeredBlobService reads through to peers as it reads through to any lower tier.
// Everything it yields went through the verifying bao decoder against the digest asked
// for; its stat is the peer's, with the outboard already verified up to the digest.
// Peers are asked in order; one that does not have the blob is passed over. It is
// read-only: writes go to the local tier.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { checkDigest, checkReadRange, type BlobService, type BlobStat, type BlobWriter, type Digest, type ReadRange } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { decodeAnswer, requestBlob } from '../protocols/index.js';
import { requestStat } from '../protocols/index.js';

/** The peers a remote tier asks, in order, and the host to ask them through. */
export interface PeerSet {
  readonly host: Libp2p;
  peers(): readonly PeerId[];
}

/** A write to a remote tier. */
export class ReadOnlyTierError extends CastorError {
  constructor(what: string) {
    super('READ_ONLY', `${what}: the peer tier is read-only (writes go to the local store)`, what);
  }
}

/**
 * Runs `ask` on each peer in turn until one answers with something. Absence everywhere
 * is undefined; if a peer failed (broke the protocol, lied) and none had it, that
 * failure is thrown: a tier that cannot answer is not a tier that has nothing.
 */
export async function firstAnswer<T>(peers: readonly PeerId[], ask: (peer: PeerId) => Promise<T | undefined>): Promise<T | undefined> {
  let failure: unknown;
  for (const peer of peers) {
    try {
      const r = await ask(peer);
      if (r !== undefined) return r;
    } catch (err: unknown) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
  return undefined;
}

export class RemoteBlobService implements BlobService {
  readonly #peers: PeerSet;

  constructor(peers: PeerSet) {
    this.#peers = peers;
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** The first peer's stat of a blob it holds whole. */
  async stat(digest: Digest): Promise<BlobStat | undefined> {
    checkDigest(digest);
    const { host } = this.#peers;
    return firstAnswer(this.#peers.peers(), async (peer) => {
      const st = await requestStat(host, peer, digest);
      return st !== undefined && st.complete ? { size: st.size, chunks: st.chunks, outboard: st.outboard } : undefined;
    });
  }

  /**
   * The verified bytes of `range` (default: all) from the first peer that serves it. The
   * request is made now (so absence is `undefined` here); the stream decodes as it is read.
   */
  async read(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkDigest(digest);
    const r = checkReadRange(range);
    const { host } = this.#peers;
    const answer = await firstAnswer(this.#peers.peers(), (peer) => requestBlob(host, peer, digest, r === undefined ? undefined : [r]));
    return answer === undefined ? undefined : decodeAnswer(answer);
  }

  openWriter(): BlobWriter {
    const refuse = async (): Promise<never> => { throw new ReadOnlyTierError('writing a blob'); };
    return { write: refuse, close: refuse, abort: async () => undefined };
  }
}
