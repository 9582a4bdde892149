// Substitution from peers: the PathInfo a peer claims for a store path (/castor/path-info/1)
// is taken only if a trusted Nix key signed it or its CA checks out; its references are
// got first (in parallel, the same way); its tree is fetched with the verified fetch
// (every Directory against its parent, every group against its blob); then the NAR is
// rendered once and its sha256 and size checked against the claimed narHash and narSize
// before the PathInfo is stored. A peer whose tree does not render to its claim is hung
// up on, logged, and the path asked of the next; nothing it sent becomes a path.

import type { Libp2p, PeerId } from '@libp2p/interface';
import { asDigest, type DataDir, formatNixHash, narHashOf, narHashText, parseStorePath, type PathInfo, pathTrust } from '../../store/index.js';
import { CastorError, type PublicKey } from '../../verify/index.js';
import { fetchBlob, fetchTree } from '../fetch/index.js';
import { requestPathInfo } from '../protocols/index.js';
import { checkCaContent } from './ca-content.js';
import type { NixPathInfoSource } from './path-info-source.js';
import type { NixSubstituter } from './substituter.js';

/** A tree that does not render to the NAR its PathInfo claims. `value`: the peer. */
export class NarClaimMismatchError extends CastorError {
  constructor(peer: string, storePath: string, detail: string) {
    super('NAR_CLAIM_MISMATCH', `peer ${peer}: the tree of ${storePath} ${detail}`, peer);
  }
}

export interface PeerSubstituterOptions {
  readonly host: Libp2p;
  /** Where fetched trees are stored (the cache's own view of the data dir). */
  readonly data: DataDir;
  readonly pathInfos: NixPathInfoSource;
  /** Keys whose signature admits an input-addressed path. */
  readonly trustedKeys: readonly PublicKey[];
  /** Peers that may hold the PathInfo of a hash part, best first (connected peers, then the DHT's providers). */
  readonly findPeers: (hashPart: string) => Promise<PeerId[]>;
  /** Makes what was fetched durable before a PathInfo is put. */
  readonly sync?: (() => Promise<void>) | undefined;
  /** Called with each path substituted. */
  readonly onImported?: (storePath: string, narSize: number, peer: string) => void;
  /** Called with one line per peer dropped for a lie. */
  readonly log?: (line: string) => void;
}

export class PeerSubstituter implements NixSubstituter {
  readonly name = 'peers';
  /** Paths being got, so a closure's shared references are fetched once. */
  readonly #running = new Map<string, Promise<boolean>>();

  constructor(private readonly options: PeerSubstituterOptions) {}

  substitute(hashPart: string): Promise<boolean> {
    let p = this.#running.get(hashPart);
    if (p === undefined) {
      p = this.#substitute(hashPart).finally(() => this.#running.delete(hashPart));
      this.#running.set(hashPart, p);
    }
    return p;
  }

  async #substitute(hashPart: string): Promise<boolean> {
    const o = this.options;
    if ((await o.pathInfos.get(hashPart))?.node !== undefined) return true;
    const peers = await o.findPeers(hashPart);
    const failures: unknown[] = [];
    for (const peer of peers) {
      try {
        const info = await requestPathInfo(o.host, peer, hashPart);
        if (info === undefined) continue;
        // Throws UntrustedPathError: a path nobody trusted vouches for is not taken at all.
        const trust = pathTrust(info, o.trustedKeys, true);
        await this.#references(info);
        await this.#fetch(info, [peer, ...peers.filter((p) => !p.equals(peer))]);
        const summary = await narHashOf(info.node!, o.data.blobs, o.data.directories);
        if (summary.narSize !== info.narSize || !Buffer.from(summary.narHash).equals(info.narHash)) {
          const err = new NarClaimMismatchError(peer.toString(), info.storePath,
            `renders to a NAR of ${summary.narSize} bytes with ${formatNixHash('sha256', summary.narHash)}, not the ${info.narSize} bytes and ${narHashText(info)} it claims`);
          o.log?.(`peer dropped: ${err.message}`);
          await o.host.hangUp(peer).catch(() => undefined); // already failed: hanging up is a courtesy
          failures.push(err);
          continue;
        }
        if (trust.by === 'content-address') await checkCaContent(info.storePath, trust.ca, info.node!, summary.narHash, o.data);
        await o.sync?.();
        await o.pathInfos.put(info, { trustedKeys: o.trustedKeys });
        o.onImported?.(info.storePath, info.narSize, peer.toString());
        return true;
      } catch (err: unknown) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
    return false;
  }

  /** Every reference but the path itself made present first, in parallel. */
  async #references(info: PathInfo): Promise<void> {
    const refs = info.references.filter((r) => r !== info.storePath);
    const got = await Promise.all(refs.map((r) => this.substitute(parseStorePath(r).hashPart)));
    const missing = refs.filter((_, i) => !got[i]);
    if (missing.length > 0) throw new CastorError('NIX_MISSING_REFERENCE', `${info.storePath}: no peer has its reference ${missing[0]}`, missing[0]);
  }

  /** The tree of the path's root node into the store, verified as it comes. */
  async #fetch(info: PathInfo, peers: readonly PeerId[]): Promise<void> {
    const node = info.node!;
    const ctx = { host: this.options.host, data: this.options.data };
    if ('directory' in node && node.directory !== undefined) {
      const got = await fetchTree(ctx, asDigest(node.directory.digest), peers);
      if (got === undefined) throw new CastorError('NOT_FOUND', `${info.storePath}: no peer has its tree`, info.storePath);
    } else if ('file' in node && node.file !== undefined) {
      await fetchBlob(ctx, asDigest(node.file.digest), peers);
    }
    // A symlink names nothing to fetch.
  }
}
