// GET /nar/...: a path's NAR rendered from castore as it is sent (blobs verified as they
// are read), compressed if the name asks for it, paced by the socket. The NAR's last
// chunk is held back until the whole NAR hashed to the path's narHash, so a client never
// receives a complete NAR (or a compressed stream's end) that differs from the signed
// one: on a mismatch or a failed read the connection is cut short instead.

import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { type BlobService, type Compression, type DirectoryService, type Node, renderNar } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { compressNar } from './compress-nar.js';

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

/** The NAR of `nar`, its last chunk released only once the whole hashed to narHash with narSize bytes. */
export async function* verifiedNar(nar: NarToSend, store: { blobs: BlobService; directories: DirectoryService }): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let held: Uint8Array | undefined;
  let rendered = 0;
  for await (const chunk of renderNar(nar.node, store)) {
    hash.update(chunk);
    rendered += chunk.length;
    // Past the size the path claims (and a Content-Length may have promised): not the path's tree.
    if (rendered > nar.narSize) throw new NarHashMismatchError(nar.storePath);
    if (held !== undefined) yield held;
    held = chunk;
  }
  if (rendered !== nar.narSize || !Buffer.from(hash.digest()).equals(nar.narHash)) throw new NarHashMismatchError(nar.storePath);
  if (held !== undefined) yield held;
}

/**
 * Writes the NAR, compressed as asked, as the body of `res` (headers already sent).
 * Resolves once it is all written; throws (after destroying the response) if the store
 * fails, the NAR does not match, or the client goes away.
 */
export async function sendNar(
  res: http.ServerResponse, nar: NarToSend, compression: Compression, store: { blobs: BlobService; directories: DirectoryService },
): Promise<void> {
  try {
    for await (const chunk of compressNar(compression, verifiedNar(nar, store))) {
      if (res.destroyed) throw new CastorError('CLIENT_GONE', 'the client closed the connection', nar.storePath);
      if (!res.write(chunk)) {
        // 'close' too: a client that goes away never drains.
        await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
    }
    res.end();
  } catch (err: unknown) {
    res.destroy();
    throw err;
  }
}
