// /castor/index/1, serving side: the newest SignedRoot this node accepted for a
// publisher key (its Index travels separately, as a blob over /castor/blob/1).

import { encodeSignedRoot } from '../../store/index.js';
import { IndexRequest, IndexResponse, Status } from './exchange-pb.js';
import { INDEX_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';

async function serveIndex(request: Uint8Array, out: Responder, { trust }: ServeSources): Promise<void> {
  let req: IndexRequest;
  try {
    req = IndexRequest.decode(request);
  } catch (err: unknown) {
    throw new BadRequestError(`index request does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (req.publicKey.length !== 32) throw new BadRequestError(`public key is ${req.publicKey.length} bytes, not 32`);
  const accepted = await trust.state.accepted(req.publicKey);
  if (accepted === undefined) {
    await out.header(IndexResponse.encode({ status: Status.NOT_FOUND, signedRoot: new Uint8Array(0), error: '' }));
    return;
  }
  await out.header(IndexResponse.encode({ status: Status.OK, signedRoot: new Uint8Array(encodeSignedRoot(accepted.root)), error: '' }));
}

export const indexHandler: ProtocolHandler = {
  protocol: INDEX_PROTOCOL,
  errorHeader: (status, error) => IndexResponse.encode({ status, signedRoot: new Uint8Array(0), error }),
  serve: serveIndex,
};
