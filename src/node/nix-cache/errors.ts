// Errors of the HTTP binary cache: each carries the HTTP status it is answered with and a
// one-line reason (Nix prints the body of a failed upload). Never 5xx for an upload:
// Nix 2.8 retries a 5xx PUT with an empty body and then hangs.

import { CastorError } from '../../verify/index.js';

/** Stable codes of refused requests. */
export type NixCacheErrorCode =
  | 'BAD_PATH' // not a route of the cache, or a malformed store path hash or NAR file name
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'FORBIDDEN' // an upload from a host that may not upload
  | 'TOO_LARGE' // body over its cap
  | 'BAD_UPLOAD' // a NAR or narinfo that does not decode, or does not match
  | 'REFUSED' // the path store refused the path (missing references, untrusted signature)
  | 'BUSY';

/** A request the cache answers with `status` and the one-line message. */
export class NixCacheError extends CastorError {
  constructor(readonly status: number, code: NixCacheErrorCode, message: string, value?: unknown, options?: { cause?: unknown }) {
    super(code, message.replace(/[\r\n]+/gu, ' '), value, options);
  }
}
