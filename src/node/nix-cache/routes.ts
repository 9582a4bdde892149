// The request targets of the binary cache, checked before any lookup: a route names a
// valid hash part or NAR file name, or the request is refused without touching the store.

import { HASH_PART_LENGTH } from '../../store/index.js';
import { NixCacheError } from './errors.js';
import { type NarFileName, parseNarFileName } from './nar-file-name.js';

export type Route =
  | { readonly kind: 'cache-info' }
  | { readonly kind: 'narinfo'; readonly hashPart: string }
  | { readonly kind: 'nar'; readonly url: string; readonly file: NarFileName };

const NARINFO = new RegExp(`^/([0123456789abcdfghijklmnpqrsvwxyz]{${HASH_PART_LENGTH}})\\.narinfo$`, 'u');
/** Longest target any route has (`/nar/` + 32 + 1 + 52 + `.nar`), with room to spare. */
const MAX_TARGET = 256;

/** The route of a request target (query ignored, as Nix sends none). Throws NixCacheError 400/404. */
export function routeOf(target: string | undefined): Route {
  const raw = target ?? '';
  if (raw.length > MAX_TARGET) throw new NixCacheError(414, 'BAD_PATH', `request target longer than ${MAX_TARGET} bytes`, raw.length);
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  if (path === '/nix-cache-info') return { kind: 'cache-info' };
  if (path.endsWith('.narinfo')) {
    const m = NARINFO.exec(path);
    if (m === null) throw new NixCacheError(400, 'BAD_PATH', `${JSON.stringify(path)} is not /<32 characters of Nix base32>.narinfo`, path);
    return { kind: 'narinfo', hashPart: m[1]! };
  }
  if (path.startsWith('/nar/')) {
    const file = parseNarFileName(path.slice('/nar/'.length));
    if (file === undefined) {
      throw new NixCacheError(400, 'BAD_PATH', `${JSON.stringify(path)} is not a NAR file name (/nar/<hash part>-<narHash>.nar, or /nar/<FileHash>.nar[.xz|.zst|.bz2|.br] to upload)`, path);
    }
    return { kind: 'nar', url: path.slice(1), file };
  }
  throw new NixCacheError(404, 'NOT_FOUND', `no such file: ${JSON.stringify(path.slice(0, 64))}`, path);
}
