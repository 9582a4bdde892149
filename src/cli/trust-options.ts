// What the trust commands (publish, resolve, root) share: --trusted-key, opening the
// trust store of the data dir, and printing a root the same way everywhere.

import { validateName } from '../store/index.js';
import { formatDigest } from '../store/index.js';
import { CastorError } from '../verify/index.js';
import type { PublicKey } from '../verify/index.js';
import { type AcceptedRoot, type SignedRoot, TrustStore, describeRoot, trustedKeyArg } from '../store/index.js';
import { UsageError, oneLine } from './cli-io.js';
import { openStore } from './store-options.js';

export const TRUSTED_KEY_OPTION = { 'trusted-key': { type: 'string', multiple: true } } as const;

export const TRUSTED_KEY_HELP = `  --trusted-key FILE_OR_TEXT
                  also trust this public key ("name:base64", or a file of such keys,
                  whitespace-separated); repeatable. Always trusted: the keys in the data
                  dir's config.json ({"trustedKeys": ["name:base64", ...]}) and the keys
                  this data dir published with.`;

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The --trusted-key values as keys; a malformed one is a usage error (exit 2). */
export async function trustedKeyOptions(values: Values): Promise<PublicKey[]> {
  const raw = values['trusted-key'];
  const args = raw === undefined ? [] : (Array.isArray(raw) ? raw : [raw]).map(String);
  const keys: PublicKey[] = [];
  for (const arg of args) {
    try {
      keys.push(...(await trustedKeyArg(arg)));
    } catch (err: unknown) {
      if (err instanceof CastorError) throw new UsageError(`--trusted-key ${arg}: ${oneLine(err)}`);
      throw err;
    }
  }
  return keys;
}

/** Opens the data dir (creating it when `create`) and its trust store with the --trusted-key keys. */
export async function openTrust(values: Values, options: { create?: boolean } = {}): Promise<TrustStore> {
  const extraKeys = await trustedKeyOptions(values);
  const data = await openStore(values as Record<string, string | boolean | undefined>, options);
  return new TrustStore(data, { extraKeys });
}

/** A root as printed by publish, root show and root import: one JSON object, or aligned lines. */
export function rootInfo(root: SignedRoot, accepted?: AcceptedRoot, entries?: number): Record<string, string | number | null> {
  const d = describeRoot(root);
  return {
    key: d['key']!,
    key_name: root.keyName,
    sequence: d['sequence']!,
    timestamp: d['timestamp']!,
    expires: d['expires']!,
    index: formatDigest(root.indexDigest),
    index_size: d['indexSize']!,
    entries: accepted?.entries ?? entries ?? null,
    ...(accepted && { accepted_at: accepted.acceptedAt }),
  };
}

export function formatInfo(info: Record<string, string | number | null>): string {
  return Object.entries(info).map(([k, v]) => `${k.padEnd(12)}${v ?? (k === 'expires' ? 'never' : '-')}\n`).join('');
}

/** A NAME argument: UTF-8 text that is a valid castore name (entry names are bytes), else a usage error. */
export function nameArg(text: string, what = 'NAME'): Uint8Array {
  const name = new TextEncoder().encode(text);
  try {
    validateName(name);
  } catch (err: unknown) {
    throw new UsageError(`${what} ${JSON.stringify(text)}: ${oneLine(err).replace(/^invalid directory: /u, '')}`);
  }
  return name;
}
