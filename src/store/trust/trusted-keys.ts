// Where trusted publisher keys come from: the data dir's config file, the keys the data
// dir published with, and keys given on the command line (`--trusted-key FILE_OR_TEXT`).
//
// config.json (other layers may keep other fields beside it):
//   { "trustedKeys": ["cache.example.org-1:base64(32-byte public key)", ...] }
// The same `name:base64` text as Nix's trusted-public-keys and key files.

import { readFile } from 'node:fs/promises';
import { type PublicKey, MalformedKeyError, parsePublicKey, parseSecretKey, publicKeyOf } from '../../verify/index.js';
import { digestEquals } from '../digest.js';
import { fsError, isNotFound } from '../fs/index.js';
import { TrustConfigError } from './errors.js';

export const CONFIG_TRUSTED_KEYS = 'trustedKeys';

/** The keys config.json at `file` lists under `field`; none if the file is absent. Throws TrustConfigError if it is malformed. */
export async function configTrustedKeys(file: string, field = CONFIG_TRUSTED_KEYS): Promise<PublicKey[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, file, 'reading');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new TrustConfigError(file, `is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new TrustConfigError(file, 'is not a JSON object');
  const list = (json as Record<string, unknown>)[field];
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new TrustConfigError(file, `"${field}" is not a list of "name:base64" public keys`);
  return list.map((text, i) => {
    try {
      return parsePublicKey(String(text));
    } catch (err: unknown) {
      throw new TrustConfigError(file, `"${field}"[${i}]: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
}

/**
 * Keys from text or a file's contents: whitespace-separated `name:base64` public keys (as
 * Nix's trusted-public-keys), or one secret key file, whose public half is taken.
 */
export function parseKeyList(text: string): PublicKey[] {
  const words = text.split(/\s+/u).filter((w) => w.length > 0);
  if (words.length === 1) {
    try {
      return [parsePublicKey(words[0]!)];
    } catch (err: unknown) {
      try {
        return [publicKeyOf(parseSecretKey(words[0]!))];
      } catch {
        throw err;
      }
    }
  }
  if (words.length === 0) throw new MalformedKeyError('not-text', 'no key found', undefined);
  return words.map((w) => parsePublicKey(w));
}

/**
 * `--trusted-key FILE_OR_TEXT`: the text itself if it is a key, else the keys in the file
 * it names. Throws MalformedKeyError, or the file's read error.
 */
export async function trustedKeyArg(arg: string): Promise<PublicKey[]> {
  try {
    return [parsePublicKey(arg)];
  } catch (err: unknown) {
    if (!(err instanceof MalformedKeyError)) throw err;
  }
  let text: string;
  try {
    text = await readFile(arg, 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err)) throw new MalformedKeyError('missing-colon', `--trusted-key ${JSON.stringify(arg)} is neither "name:base64" nor a readable file`, arg);
    throw fsError(err, arg, 'reading');
  }
  return parseKeyList(text);
}

/** `keys` without repeats (same name and public key). */
export function uniqueKeys(keys: Iterable<PublicKey>): PublicKey[] {
  const out: PublicKey[] = [];
  for (const k of keys) {
    if (!out.some((o) => o.name === k.name && digestEquals(o.publicKey, k.publicKey))) out.push(k);
  }
  return out;
}
