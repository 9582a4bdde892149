// /castor/path-info/1, serving side: the PathInfo this node holds for a Nix store path
// hash part, from the data dir's PathInfo store, as an Index of one entry (the same bytes
// the store keeps). The tree it names is served over /castor/directory/1 and /castor/blob/1.

import { encodePathInfo, HASH_PART_BYTES, PathInfoStore } from '../../store/index.js';
import { nix32Encode } from '../../verify/index.js';
import { MAX_HEADER_BYTES } from '../limits.js';
import { PathInfoRequest, PathInfoResponse, Status } from './exchange-pb.js';
import { PATH_INFO_PROTOCOL } from './ids.js';
import { BadRequestError, type ProtocolHandler, type Responder, type ServeSources } from './server.js';

/** Room left in a response header for the status and framing around the entry. */
const HEADER_SLACK = 64;

const empty = new Uint8Array(0);

async function servePathInfo(request: Uint8Array, out: Responder, { data }: ServeSources): Promise<void> {
  let req: PathInfoRequest;
  try {
    req = PathInfoRequest.decode(request);
  } catch (err: unknown) {
    throw new BadRequestError(`path-info request does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (req.hash.length !== HASH_PART_BYTES) throw new BadRequestError(`store path hash is ${req.hash.length} bytes, not ${HASH_PART_BYTES}`);
  const info = await new PathInfoStore(data.layout).get(nix32Encode(req.hash));
  if (info?.node === undefined) {
    await out.header(PathInfoResponse.encode({ status: Status.NOT_FOUND, entry: empty, error: '' }));
    return;
  }
  const entry = new Uint8Array(encodePathInfo(info));
  if (entry.length > MAX_HEADER_BYTES - HEADER_SLACK) {
    // Some 800 references: more than the asker reads in a header.
    await out.header(PathInfoResponse.encode({ status: Status.INTERNAL, entry: empty, error: `the path info of ${info.storePath} is ${entry.length} bytes, over the header cap` }));
    return;
  }
  await out.header(PathInfoResponse.encode({ status: Status.OK, entry, error: '' }));
}

export const pathInfoHandler: ProtocolHandler = {
  protocol: PATH_INFO_PROTOCOL,
  errorHeader: (status, error) => PathInfoResponse.encode({ status, entry: empty, error }),
  serve: servePathInfo,
};
