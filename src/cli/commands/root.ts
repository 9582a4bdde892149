// castor root: show accepted roots, export one with its index to carry offline, and
// import or verify such a file under the acceptance rules.

import { readFile, writeFile } from 'node:fs/promises';
import { DataDirMissingError } from '../../store/index.js';
import {
  type RootBundle, EquivocationError, TrustStore, checkRoot, decodeRootBundle, showRootKey, unixSeconds,
} from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { CommandExit, HELP_OPTION, isStdio, oneLine, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../store-options.js';
import { TRUSTED_KEY_HELP, TRUSTED_KEY_OPTION, formatInfo, openTrust, rootInfo, trustedKeyOptions } from '../trust-options.js';

const HELP = `Usage: castor root show [KEY] [--json]
       castor root export KEY [FILE]
       castor root import [FILE] [--trusted-key FILE_OR_TEXT]...
       castor root verify [FILE] [--trusted-key FILE_OR_TEXT]...
       (each also takes --data-dir DIR)

  show    The root this data dir last accepted for KEY (default: for every key): key,
          sequence, times, index digest and size, entry count. --json: one object
          (with KEY) or a list.
  export  Writes the accepted root of KEY together with its index, one self-contained
          file to carry offline, to FILE (default stdout).
  import  Reads such a file (default stdin) and applies the acceptance rules: a trusted
          key (name and public key), a valid signature, a sequence above the last one
          accepted for the key (the same sequence only with the same index), not
          expired, the index's size and digest, and well-formed entries sorted by name
          without duplicates. If they hold, the index is stored and the root becomes
          the key's last accepted; otherwise nothing changes and the reason is printed.
          Two different indexes under one sequence are kept as evidence in
          trust/evidence/.
  verify  Applies the same rules to a file and says whether import would accept it,
          storing nothing. Works without a data dir (then with --trusted-key only).

KEY is a key name, "name:base64", the bare base64 or hex public key, or a key file.
${TRUSTED_KEY_HELP}
${DATA_DIR_HELP}
Exit status: 0 ok (import: accepted; verify: valid), 1 rejected, not found or a store
failure, 2 bad usage.
`;

const SHOW_OPTIONS = { ...HELP_OPTION, ...DATA_DIR_OPTION, ...TRUSTED_KEY_OPTION, json: { type: 'boolean' } } as const;
const IO_OPTIONS = { ...HELP_OPTION, ...DATA_DIR_OPTION, ...TRUSTED_KEY_OPTION } as const;

async function show(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, SHOW_OPTIONS, 'root show');
  if (values['help']) { io.out(HELP); return 0; }
  if (positionals.length > 1) throw new UsageError('root show: expected at most one KEY');
  const trust = await openTrust(values);
  const roots = positionals.length === 1 ? [await trust.findAccepted(positionals[0]!)] : await trust.state.list();
  const infos = roots.map((a) => rootInfo(a.root, a));
  if (values['json']) io.out(`${JSON.stringify(positionals.length === 1 ? infos[0] : infos)}\n`);
  else io.out(infos.map(formatInfo).join('\n'));
  return 0;
}

async function exportRoot(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, IO_OPTIONS, 'root export');
  if (values['help']) { io.out(HELP); return 0; }
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('root export: expected KEY [FILE]');
  const trust = await openTrust(values);
  const bytes = await trust.exportBundle(positionals[0]!);
  const file = positionals[1];
  if (isStdio(file)) {
    await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
  } else {
    await writeFile(file!, bytes);
  }
  return 0;
}

async function readBundle(file: string | undefined): Promise<RootBundle> {
  let bytes: Uint8Array;
  try {
    if (isStdio(file)) {
      const parts: Buffer[] = [];
      for await (const part of process.stdin) parts.push(part as Buffer);
      bytes = new Uint8Array(Buffer.concat(parts));
    } else {
      bytes = new Uint8Array(await readFile(file!));
    }
  } catch (err: unknown) {
    throw new CommandExit(1, `cannot read ${file ?? 'stdin'}: ${oneLine(err)}`);
  }
  return decodeRootBundle(bytes);
}

/** The codes of the acceptance rules (and of a bundle that does not decode). */
const REJECTIONS = new Set([
  'MALFORMED_ROOT', 'UNTRUSTED_KEY', 'BAD_SIGNATURE', 'ROLLBACK', 'EQUIVOCATION', 'EXPIRED',
  'INDEX_SIZE_MISMATCH', 'INDEX_DIGEST_MISMATCH', 'INVALID_INDEX',
]);

/** A rejection says so, with the rule and the reason; other failures pass through. */
function rejected(err: unknown): never {
  if (err instanceof CastorError && REJECTIONS.has(err.code)) {
    const evidence = err instanceof EquivocationError && err.evidencePath !== undefined ? `; evidence kept in ${err.evidencePath}` : '';
    throw new CommandExit(1, `root rejected (${err.code}): ${oneLine(err)}${evidence}`, err.code);
  }
  throw err;
}

async function importRoot(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, IO_OPTIONS, 'root import');
  if (values['help']) { io.out(HELP); return 0; }
  if (positionals.length > 1) throw new UsageError('root import: expected at most one FILE');
  const trust = await openTrust(values, { create: true });
  try {
    const bundle = await readBundle(positionals[0]);
    const { verdict, accepted } = await trust.accept(bundle.root, bundle.index);
    const what = verdict === 'new' ? 'accepted' : 'already accepted';
    io.out(`${what}: ${showRootKey(accepted.root)} sequence ${accepted.root.sequence}, ${accepted.entries} entries, index ${Buffer.from(accepted.root.indexDigest).toString('hex')}\n`);
    return 0;
  } catch (err: unknown) {
    return rejected(err);
  }
}

async function verifyRoot(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, IO_OPTIONS, 'root verify');
  if (values['help']) { io.out(HELP); return 0; }
  if (positionals.length > 1) throw new UsageError('root verify: expected at most one FILE');
  let trust: TrustStore | undefined;
  try {
    trust = await openTrust(values);
  } catch (err: unknown) {
    if (!(err instanceof DataDirMissingError)) throw err;
  }
  const extra = trust === undefined ? await trustedKeyOptions(values) : [];
  try {
    const bundle = await readBundle(positionals[0]);
    const verdict = trust !== undefined
      ? await trust.verify(bundle.root, bundle.index)
      : checkRoot(bundle.root, bundle.index, { trusted: extra, accepted: undefined, now: unixSeconds() });
    const r = bundle.root;
    const note = verdict.kind === 'same' ? ' (the root already accepted)' : '';
    io.out(`valid: ${showRootKey(r)} sequence ${r.sequence}, ${verdict.offsets.length - 1} entries, index ${Buffer.from(r.indexDigest).toString('hex')}${note}\n`);
    return 0;
  } catch (err: unknown) {
    return rejected(err);
  }
}

/** Run `castor root ...`; `argv` is what follows the word `root`. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'show': return await show(rest, io);
      case 'export': return await exportRoot(rest, io);
      case 'import': return await importRoot(rest, io);
      case 'verify': return await verifyRoot(rest, io);
      case '--help': case '-h': case 'help': io.out(HELP); return 0;
      case undefined: throw new UsageError('root: missing subcommand (show, export, import, verify); see castor root --help');
      default: throw new UsageError(`root: unknown subcommand '${sub}'; see castor root --help`);
    }
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
