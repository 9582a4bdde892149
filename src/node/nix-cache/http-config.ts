// The binary cache's settings in the data dir's config.json (other layers read their own
// fields from the same object and leave these alone):
//   { "http": "127.0.0.1:5000", "httpRemoteUploads": false, "nixUpstreams": ["https://..."] }
// "http" turns the cache on (castor daemon --http replaces it); "httpRemoteUploads": true
// accepts uploads (nix copy --to) from any host, not only loopback; "nixUpstreams" are
// binary caches a path asked for and not held is imported from (--nix-upstream replaces it).

import { readFile } from 'node:fs/promises';
import { fsError, isNotFound } from '../../store/index.js';
import { NetworkConfigError } from '../config.js';
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
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err)) return {};
    throw fsError(err, file, 'reading');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new NetworkConfigError(file, `is not JSON: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new NetworkConfigError(file, 'is not a JSON object');
  const obj = json as Record<string, unknown>;
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
