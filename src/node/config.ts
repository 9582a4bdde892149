// The node's network settings: listen addresses, announce addresses, bootstrap peers and
// whether to run mDNS and the DHT, from the data dir's config.json and from command-line
// flags (a flag given replaces the file's setting).
//
// config.json (the trust layer reads "trustedKeys" from the same object; other fields are
// left alone):
//   {
//     "listen":    ["/ip4/0.0.0.0/tcp/4001"],
//     "announce":  ["/dns4/cache.example.org/tcp/4001"],
//     "bootstrap": ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."],
//     "mdns":      false,
//     "dht":       false
//   }
// There are no default bootstrap peers: a node knows only the peers it is told about, the
// peers they know (the DHT, on unless "dht": false), and the peers on its LAN (mDNS, on in
// the daemon unless "mdns": false).

import { readFile } from 'node:fs/promises';
import { multiaddr } from '@multiformats/multiaddr';
import { CastorError } from '../verify/index.js';
import { fsError, isNotFound } from '../store/index.js';

export const CONFIG_LISTEN = 'listen';
export const CONFIG_ANNOUNCE = 'announce';
export const CONFIG_BOOTSTRAP = 'bootstrap';
export const CONFIG_MDNS = 'mdns';
export const CONFIG_DHT = 'dht';
/** Entries of one list: a config is written by hand, not a peer table. */
export const MAX_CONFIG_ADDRESSES = 64;

export interface NetworkConfig {
  /** Where to listen; undefined means the node's default (every interface, tcp 4001). */
  readonly listen?: readonly string[];
  /** What to tell peers instead of the listening addresses. */
  readonly announce?: readonly string[];
  /** Peers to dial on start; each ends with /p2p/<peer id>. */
  readonly bootstrap?: readonly string[];
  /** Find peers on the LAN by mDNS; undefined means the caller's default (the daemon: on). */
  readonly mdns?: boolean;
  /** Run the DHT; undefined means on. */
  readonly dht?: boolean;
}

type Setting = typeof CONFIG_LISTEN | typeof CONFIG_ANNOUNCE | typeof CONFIG_BOOTSTRAP;

/** config.json, or a flag, holds an address list that cannot be used. */
export class NetworkConfigError extends CastorError {
  constructor(readonly where: string, detail: string, value?: unknown, options?: { cause?: unknown }) {
    super('INVALID_CONFIG', `${where}: ${detail}`, value, options);
  }
}

/**
 * Checks one address list: multiaddrs, bootstrap ones ending /p2p/<id>, listen and
 * announce ones without it. `where` names the source in errors (a file, a flag).
 */
export function checkAddresses(setting: Setting, list: unknown, where: string): string[] {
  if (!Array.isArray(list) || list.some((a) => typeof a !== 'string')) {
    throw new NetworkConfigError(where, `"${setting}" must be a list of multiaddr strings`, list);
  }
  if (list.length > MAX_CONFIG_ADDRESSES) throw new NetworkConfigError(where, `"${setting}" has ${list.length} entries, at most ${MAX_CONFIG_ADDRESSES}`, list.length);
  return (list as string[]).map((text) => {
    let names: string[];
    try {
      if (!text.startsWith('/')) throw new Error('a multiaddr starts with /');
      names = multiaddr(text).getComponents().map((c) => c.name);
    } catch (err: unknown) {
      throw new NetworkConfigError(where, `${setting} address ${JSON.stringify(text)}: ${err instanceof Error ? err.message : String(err)}`, text, { cause: err });
    }
    const p2p = names.indexOf('p2p');
    if (setting === CONFIG_BOOTSTRAP && (p2p < 0 || p2p !== names.length - 1)) {
      throw new NetworkConfigError(where, `bootstrap address ${text} must end with /p2p/<peer id>`, text);
    }
    if (setting !== CONFIG_BOOTSTRAP && p2p >= 0) throw new NetworkConfigError(where, `${setting} address ${text} must not name a peer (/p2p)`, text);
    return text;
  });
}

/** config.json at `file` as an object; undefined if the file is absent. Throws NetworkConfigError. */
export async function readConfigObject(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw fsError(err, file, 'reading');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new NetworkConfigError(file, `is not JSON: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new NetworkConfigError(file, 'is not a JSON object');
  return json as Record<string, unknown>;
}

/** The network settings in config.json at `file`; none if the file is absent. Throws NetworkConfigError. */
export async function readNetworkConfig(file: string): Promise<NetworkConfig> {
  const obj = await readConfigObject(file);
  if (obj === undefined) return {};
  const out: { -readonly [K in keyof NetworkConfig]: NetworkConfig[K] } = {};
  for (const setting of [CONFIG_LISTEN, CONFIG_ANNOUNCE, CONFIG_BOOTSTRAP] as const) {
    if (obj[setting] !== undefined) out[setting] = checkAddresses(setting, obj[setting], file);
  }
  for (const setting of [CONFIG_MDNS, CONFIG_DHT] as const) {
    const v = obj[setting];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new NetworkConfigError(file, `"${setting}" must be true or false`, v);
    out[setting] = v;
  }
  return out;
}

/** The file's settings with each setting the flags give replacing the file's. */
export function mergeNetworkConfig(file: NetworkConfig, flags: NetworkConfig): NetworkConfig {
  return {
    ...pick(CONFIG_LISTEN, flags[CONFIG_LISTEN] ?? file[CONFIG_LISTEN]),
    ...pick(CONFIG_ANNOUNCE, flags[CONFIG_ANNOUNCE] ?? file[CONFIG_ANNOUNCE]),
    ...pick(CONFIG_BOOTSTRAP, flags[CONFIG_BOOTSTRAP] ?? file[CONFIG_BOOTSTRAP]),
    ...flag(CONFIG_MDNS, flags[CONFIG_MDNS] ?? file[CONFIG_MDNS]),
    ...flag(CONFIG_DHT, flags[CONFIG_DHT] ?? file[CONFIG_DHT]),
  };
}

const flag = (setting: typeof CONFIG_MDNS | typeof CONFIG_DHT, on: boolean | undefined): NetworkConfig => (on === undefined ? {} : { [setting]: on });
const pick = (setting: Setting, list: readonly string[] | undefined): NetworkConfig => (list === undefined ? {} : { [setting]: [...list] });
