// GET /nar/<hash part>-<narHash>.nar: the path's NAR rendered from castore as it is sent
// (blobs verified as they are read), paced by the socket. The last chunk is held back
// until the whole NAR hashed to the path's narHash, so a client never receives a complete
// NAR that differs from the signed one: on a mismatch or a failed read the connection is
// cut short instead.

import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { type BlobService, type DirectoryService, type Node, renderNar } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';

/** The rendered NAR did not hash to the narHash the path claims. */
export class NarHashMismatchError extends CastorError {
  constructor(readonly storePath: string) {
    super('NAR_HASH_MISMATCH', `the NAR rendered for ${storePath} does not hash to its narHash`, storePath);
  }
}

export interface NarToSend {
  readonly storePath: string;
  readonly node: Node;
  readonly narHash: Uint8Array;
  readonly narSize: number;
}

/**
 * Writes the NAR as the body of `res` (headers already set, Content-Length = narSize).
 * Resolves once it is all written; throws (after destroying the response) if the store
 * fails, the NAR does not match, or the client goes away.
 */
export async function sendNar(res: http.ServerResponse, nar: NarToSend, store: { blobs: BlobService; directories: DirectoryService }): Promise<void> {
  const render = renderNar(nar.node, store);
  const hash = createHash('sha256');
  let held: Uint8Array | undefined;
  let sent = 0;
  let rendered = 0;
  const write = async (chunk: Uint8Array): Promise<void> => {
    if (res.destroyed) throw new CastorError('CLIENT_GONE', 'the client closed the connection', nar.storePath);
    sent += chunk.length;
    if (!res.write(chunk)) {
      // 'close' too: a client that goes away never drains.
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  };
  try {
    for await (const chunk of render) {
      hash.update(chunk);
      rendered += chunk.length;
      // Past the Content-Length already promised: the tree is not the path's.
      if (rendered > nar.narSize) throw new NarHashMismatchError(nar.storePath);
      if (held !== undefined) await write(held);
      held = chunk;
    }
    if (rendered !== nar.narSize || !Buffer.from(hash.digest()).equals(nar.narHash)) {
      throw new NarHashMismatchError(nar.storePath);
    }
    if (held !== undefined) await write(held);
    res.end();
  } catch (err: unknown) {
    res.destroy();
    throw err;
  }
}
