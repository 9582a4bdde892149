// castor publish: sign the next root of a key's index with names added or removed.

import { HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { loadSecretKeyFile } from './key.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg } from '../store-options.js';
import { daemonContext, runViaDaemon } from '../daemon-client.js';
import { formatInfo, nameArg, openTrust, rootInfo } from '../trust-options.js';

const HELP = `Usage: castor publish --key SECRET_FILE [NAME=DIGEST...] [--remove NAME]...
                      [--expires DURATION] [--json] [--data-dir DIR]

Signs the next root of the key's index in this data dir and prints it. The index starts
from the key's last accepted one here (so names accumulate over publishes); each
NAME=DIGEST sets NAME to what DIGEST is in the local store: a Directory becomes a
directory entry (with its castore size), a blob a file entry (its size, not executable);
a DIGEST that is neither is an error. --remove NAME drops NAME (an error if it is not
there). With no changes, the same index is signed again (to renew an expiry). The
sequence is one above the last, the Index is stored as a blob, the root is accepted
into this data dir's trust state, and the key becomes trusted by this data dir.
  --key SECRET_FILE   ed25519 secret key in Nix format (castor key generate, or
                      nix-store --generate-binary-cache-key)
  --remove NAME       drop an entry; repeatable
  --expires DURATION  the root expires this long after signing: N followed by s, m, h,
                      d or w (seconds if no unit); default: never
  --json              {"key", "key_name", "sequence", "timestamp", "expires", "index",
                      "index_size", "entries", "accepted_at"}
${DATA_DIR_HELP}
NAME is UTF-8 text, 1 to 255 bytes, no "/" or NUL, not "." or "..".
Exit status: 0 published, 1 a DIGEST not in the store or a store failure, 2 bad usage.
`;

const UNITS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86_400n, w: 604_800n };

/** `--expires` text as seconds. */
export function parseDuration(text: string): bigint {
  const m = /^(\d{1,12})([smhdw]?)$/u.exec(text);
  if (m === null) throw new UsageError(`--expires: expected a duration like 3600, 90m, 12h, 30d or 2w, got ${JSON.stringify(text)}`);
  const seconds = BigInt(m[1]!) * UNITS[m[2] || 's']!;
  if (seconds === 0n) throw new UsageError('--expires: the duration must be above zero');
  return seconds;
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const viaDaemon = await runViaDaemon('publish', argv, io);
    if (viaDaemon !== undefined) return viaDaemon;
    const { values, positionals } = parse(argv, {
      ...HELP_OPTION, ...DATA_DIR_OPTION,
      key: { type: 'string' }, remove: { type: 'string', multiple: true }, expires: { type: 'string' }, json: { type: 'boolean' },
    } as const, 'publish');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    const keyFile = values['key'];
    if (typeof keyFile !== 'string') throw new UsageError('publish: --key SECRET_FILE is required');
    const set = positionals.map((arg) => {
      const eq = arg.lastIndexOf('=');
      if (eq <= 0) throw new UsageError(`publish: expected NAME=DIGEST, got ${JSON.stringify(arg)}`);
      return { name: nameArg(arg.slice(0, eq)), digest: digestArg(arg.slice(eq + 1), `DIGEST of ${arg.slice(0, eq)}`) };
    });
    const removeRaw = values['remove'] as unknown;
    const remove = (Array.isArray(removeRaw) ? removeRaw.map(String) : []).map((n) => nameArg(n, '--remove'));
    const expiresIn = typeof values['expires'] === 'string' ? parseDuration(values['expires']) : undefined;
    const secret = await loadSecretKeyFile(keyFile);
    const trust = await openTrust(values, { create: true });
    const { accepted } = await trust.publish(secret, { set, remove, ...(expiresIn !== undefined && { expiresIn }) });
    // In the daemon: tell the DHT this node holds the key's newest root, in the background.
    void daemonContext()?.node.announceRoot(accepted.root.publicKey);
    const info = rootInfo(accepted.root, accepted);
    io.out(values['json'] ? `${JSON.stringify(info)}\n` : formatInfo(info));
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
