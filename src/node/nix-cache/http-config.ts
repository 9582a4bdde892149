// The binary cache's settings in the data dir's config.json (other layers read their own
// fields from the same object and leave these alone):
//   { "http": "127.0.0.1:5000", "httpRemoteUploads": false, "nixUpstreams": ["https://..."] }
// "http" turns the cache on (castor daemon --http replaces it); "httpRemoteUploads": true
// accepts uploads (nix copy --to) from any host, not only loopback; "nixUpstreams" are
// binary caches a path asked for and not held is imported from (--nix-upstream replaces it).

import { NetworkConfigError, readConfigObject } from '../config.js';
import { parseHttpAddress } from './http-address.js';

export const CONFIG_HTTP = 'http';
export const CONFIG_HTTP_REMOTE_UPLOADS = 'httpRemoteUploads';
export const CONFIG_NIX_UPSTREAMS = 'nixUpstreams';

export interface HttpConfig {
  readonly http?: string;
  readonly remoteUploads?: boolean;
  /** Upstream binary cache URLs (file://, http(s)://), as written; the daemon checks them. */
  readonly nixUpstreams?: readonly string[];
}

/** The cache settings of config.json at `file`; none if it is absent. Throws NetworkConfigError. */
export async function readHttpConfig(file: string): Promise<HttpConfig> {
  const obj = await readConfigObject(file);
  if (obj === undefined) return {};
  const http = obj[CONFIG_HTTP];
  const remote = obj[CONFIG_HTTP_REMOTE_UPLOADS];
  if (http !== undefined) {
    try {
      parseHttpAddress(http);
    } catch (err: unknown) {
      throw new NetworkConfigError(file, `"${CONFIG_HTTP}": ${err instanceof Error ? err.message : String(err)}`, http, { cause: err });
    }
  }
  if (remote !== undefined && typeof remote !== 'boolean') throw new NetworkConfigError(file, `"${CONFIG_HTTP_REMOTE_UPLOADS}" must be true or false`, remote);
  const upstreams = obj[CONFIG_NIX_UPSTREAMS];
  if (upstreams !== undefined && (!Array.isArray(upstreams) || upstreams.some((u) => typeof u !== 'string'))) {
    throw new NetworkConfigError(file, `"${CONFIG_NIX_UPSTREAMS}" must be a list of binary cache URLs`, upstreams);
  }
  return {
    ...(typeof http === 'string' && { http }), ...(typeof remote === 'boolean' && { remoteUploads: remote }),
    ...(upstreams !== undefined && { nixUpstreams: upstreams as string[] }),
  };
}
