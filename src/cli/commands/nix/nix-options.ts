// What the `castor nix` store-path commands share: the data dir with its PathInfo store,
// the trusted Nix keys (--trusted-nix-key, config.json "trustedNixKeys"), STOREPATH
// arguments, and a PathInfo as `nix path-info --json` prints it.

import { configTrustedNixKeys, type DataDir, type PathInfo, PathInfoStore, parseStorePath, trustedKeyArg } from '../../../store/index.js';
import { CastorError, type PublicKey } from '../../../verify/index.js';
import { oneLine, UsageError } from '../../cli-io.js';
import { openStore } from '../../store-options.js';

export const TRUSTED_NIX_KEY_OPTION = { 'trusted-nix-key': { type: 'string', multiple: true } } as const;

export const TRUSTED_NIX_KEY_HELP = `  --trusted-nix-key KEY
                  trust this Nix public key ("name:base64", as in nix.conf's
                  trusted-public-keys, or a file of such keys); repeatable. Always
                  trusted: config.json "trustedNixKeys": ["name:base64", ...].`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface NixStore {
  readonly data: DataDir;
  readonly paths: PathInfoStore;
}

/** The data dir (created when `create`) and its PathInfo store, which checks roots are present. */
export async function openNixStore(values: Values, options: { create?: boolean; durable?: boolean | 'batch' } = {}): Promise<NixStore> {
  const data = await openStore(values as Record<string, string | boolean | undefined>, options);
  const paths = new PathInfoStore(data.layout, {
    hasRoot: async (digest, kind) => (kind === 'file' ? data.blobs.has(digest) : (await data.directories.get(digest)) !== undefined),
  });
  return { data, paths };
}

/** --trusted-nix-key values and config.json "trustedNixKeys"; a malformed flag is a usage error. */
export async function trustedNixKeys(values: Values, data: DataDir): Promise<PublicKey[]> {
  const raw = values['trusted-nix-key'];
  const args = raw === undefined ? [] : (Array.isArray(raw) ? raw : [raw]).map(String);
  const keys: PublicKey[] = [];
  for (const arg of args) {
    try {
      keys.push(...(await trustedKeyArg(arg)));
    } catch (err: unknown) {
      if (err instanceof CastorError) throw new UsageError(`--trusted-nix-key ${arg}: ${oneLine(err)}`);
      throw err;
    }
  }
  return [...(await configTrustedNixKeys(data.layout.config)), ...keys];
}

/** A STOREPATH argument: a full /nix/store path (a trailing slash and anything below the path are refused). */
export function storePathArg(text: string, what = 'STOREPATH'): string {
  try {
    return parseStorePath(text).path;
  } catch (err: unknown) {
    if (err instanceof CastorError) throw new UsageError(`${what}: ${oneLine(err)}`);
    throw err;
  }
}

/** A PathInfo in `nix path-info --json`'s shape (Nix 2.8): narHash in SRI form, optional fields left out. */
export function pathInfoJson(info: PathInfo): Record<string, unknown> {
  return {
    path: info.storePath,
    narHash: `sha256-${Buffer.from(info.narHash).toString('base64')}`,
    narSize: info.narSize,
    references: info.references,
    ...(info.deriver !== undefined && { deriver: info.deriver }),
    ...(info.signatures.length > 0 && { signatures: info.signatures }),
    ...(info.ca !== undefined && { ca: info.ca }),
  };
}
