// RemoteDirectoryService: the DirectoryService contract over connected peers. A
// Directory is checked against the digest asked for, a tree Directory by Directory
// against the digests and sizes its parents name, before anything is yielded. Read-only.

import type { Directory } from '../../store/index.js';
import { asDigest, type Digest } from '../../store/index.js';
import type { DirectoryService } from '../../store/index.js';
import { DirectoryTreeVerifier } from '../../store/index.js';
import { requestDirectory, requestTree } from '../protocols/index.js';
import { firstAnswer, ReadOnlyTierError, type PeerSet } from './remote-blob-service.js';

export class RemoteDirectoryService implements DirectoryService {
  readonly #peers: PeerSet;

  constructor(peers: PeerSet) {
    this.#peers = peers;
  }

  async put(_dir: Directory): Promise<Digest> {
    throw new ReadOnlyTierError('storing a Directory');
  }

  async get(digest: Digest): Promise<Directory | undefined> {
    asDigest(digest);
    const { host } = this.#peers;
    return firstAnswer(this.#peers.peers(), (peer) => requestDirectory(host, peer, digest));
  }

  async *getRecursive(root: Digest): AsyncIterable<Directory> {
    asDigest(root);
    const { host } = this.#peers;
    const tree = await firstAnswer(this.#peers.peers(), (peer) => requestTree(host, peer, root, new DirectoryTreeVerifier(root, `peer ${peer.toString()}`)));
    if (tree !== undefined) yield* tree;
  }
}
