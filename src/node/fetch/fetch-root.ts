// Fetching a publisher's signed root: every peer asked for its newest SignedRoot of the
// key, the candidates tried newest first. A candidate must pass the cheap checks (trusted
// key, valid signature, no rollback below what this data dir accepted) before its Index
// blob is fetched (verified against the digest the root names), and then the whole of
// TrustStore.accept, checkRoot's rules in order, before it is used.

import type { PeerId } from '@libp2p/interface';
import { formatPublicKey } from '../../verify/index.js';
import { CastorError, InvalidInputError } from '../../verify/index.js';
import {
  type AcceptedRoot, BadSignatureError, isTrustedKey, MAX_INDEX_BYTES, readIndexBlob, RollbackError,
  showRootKey, type SignedRoot, type TrustStore, UntrustedKeyError, verifyRootSignature,
} from '../../store/index.js';
import { NotFoundOnPeersError, PeerMisbehavedError } from '../errors.js';
import type { FetchContext } from './fetch-blob.js';
import { decodeAnswer, requestBlob } from '../protocols/index.js';
import { requestRoot } from '../protocols/index.js';

export interface RootFetchContext extends FetchContext {
  readonly trust: TrustStore;
}

interface Candidate {
  readonly root: SignedRoot;
  readonly peer: PeerId;
}

/** The accepted root after fetching the newest acceptable one for `publicKey` from `peers`. */
export async function fetchRoot(ctx: RootFetchContext, publicKey: Uint8Array, peers: readonly PeerId[], options: { signal?: AbortSignal } = {}): Promise<AcceptedRoot> {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new InvalidInputError('a publisher public key is 32 bytes', publicKey?.length);
  const failures: Error[] = [];
  const candidates: Candidate[] = [];
  await Promise.all(peers.map(async (peer) => {
    try {
      const root = await requestRoot(ctx.host, peer, publicKey, options);
      if (root !== undefined) candidates.push({ root, peer });
    } catch (err: unknown) {
      failures.push(err instanceof Error ? err : new Error(String(err)));
    }
  }));
  options.signal?.throwIfAborted();
  candidates.sort((a, b) => (a.root.sequence === b.root.sequence ? 0 : a.root.sequence > b.root.sequence ? -1 : 1));
  let first: unknown;
  for (const c of candidates) {
    try {
      return await acceptFrom(ctx, c, options);
    } catch (err: unknown) {
      options.signal?.throwIfAborted();
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
  const lie = failures.find((f) => f instanceof PeerMisbehavedError);
  if (lie !== undefined) throw lie;
  const key = Buffer.from(publicKey).toString('base64');
  throw new NotFoundOnPeersError(`a signed root of key ${key}`, peers.map(String), failures);
}

async function acceptFrom(ctx: RootFetchContext, { root, peer }: Candidate, options: { signal?: AbortSignal }): Promise<AcceptedRoot> {
  const trusted = await ctx.trust.trustedKeys();
  if (!isTrustedKey(trusted, root)) throw new UntrustedKeyError(root.keyName, showRootKey(root));
  if (!verifyRootSignature(root)) {
    throw new PeerMisbehavedError(peer.toString(), undefined, new BadSignatureError(showRootKey(root)).message);
  }
  const last = await ctx.trust.state.accepted(root.publicKey);
  if (last !== undefined && root.sequence < last.root.sequence) {
    throw new RollbackError(root.sequence, last.root.sequence, formatPublicKey({ name: root.keyName, publicKey: root.publicKey }));
  }
  if (root.indexSize > BigInt(MAX_INDEX_BYTES)) {
    throw new CastorError('INDEX_TOO_LARGE', `the root of ${showRootKey(root)} names a ${root.indexSize}-byte Index, over ${MAX_INDEX_BYTES}`, root.indexSize);
  }
  const index = (await ctx.data.blobs.has(root.indexDigest))
    ? await readIndexBlob(ctx.data.blobs, root.indexDigest)
    : await fetchIndex(ctx, root, peer, options);
  return (await ctx.trust.accept(root, index)).accepted;
}

/** The Index blob from the peer that offered the root, verified against its digest, in memory. */
async function fetchIndex(ctx: RootFetchContext, root: SignedRoot, peer: PeerId, options: { signal?: AbortSignal }): Promise<Uint8Array> {
  const size = Number(root.indexSize);
  const answer = await requestBlob(ctx.host, peer, root.indexDigest, undefined, options);
  if (answer === undefined) throw new PeerMisbehavedError(peer.toString(), root.indexDigest, 'it offers a root but not the Index blob the root names');
  if (answer.claimedSize !== size) {
    answer.exchange.stream.abort(new Error('index size mismatch'));
    throw new PeerMisbehavedError(peer.toString(), root.indexDigest, `its Index blob is ${answer.claimedSize} bytes, the root says ${size}`);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for await (const piece of decodeAnswer(answer)) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
