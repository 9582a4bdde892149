// What every store command shares: --data-dir, opening the disk store there, and
// reading DIGEST arguments.

import { openDataDir, resolveDataDir, type DataDir } from '../store/index.js';
import { formatDigest, InvalidDigestError, parseDigest, type Digest } from '../store/index.js';
import { findDigest, type Found } from '../store/index.js';
import { CommandExit, UsageError } from './cli-io.js';

export const DATA_DIR_OPTION = { 'data-dir': { type: 'string' } } as const;

export const DATA_DIR_HELP = `  --data-dir DIR  the store (default: $CASTOR_HOME, else ~/.local/share/castor)`;

/**
 * Opens the disk store named by --data-dir (or the environment). Commands that add to
 * the store pass `create` so a first run needs no set-up; readers get DATA_DIR_MISSING.
 */
export function openStore(values: Record<string, string | boolean | undefined>, options: { create?: boolean; durable?: boolean | 'batch' } = {}): Promise<DataDir> {
  const flag = values['data-dir'];
  return openDataDir(resolveDataDir(typeof flag === 'string' ? flag : undefined), options);
}

/** A DIGEST argument: 64 hex digits, or a usage error (exit 2) saying what was wrong. */
export function digestArg(text: string | undefined, what = 'DIGEST'): Digest {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  try {
    return parseDigest(text);
  } catch (err: unknown) {
    if (err instanceof InvalidDigestError) throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}

/** What DIGEST names in the store, or exit 1 saying it is not there. */
export async function findOrFail(data: DataDir, digest: Digest): Promise<Found> {
  const found = await findDigest(data, digest);
  if (found === undefined) throw new CommandExit(1, `${formatDigest(digest)} is not in the store at ${data.layout.root}`, 'NOT_FOUND');
  return found;
}
