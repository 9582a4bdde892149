// `castor key`: make and inspect ed25519 signing keys in Nix's binary-cache format.

import { open, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CastorError } from '../../verify/index.js';
import {
  type SecretKey, checkKeyName, formatPublicKey, formatSecretKey, generateKeyPair, parseSecretKey, publicKeyOf,
} from '../../verify/index.js';
import { CommandExit, HELP_OPTION, type Io, oneLine, parse, processIo, reportError, UsageError } from '../cli-io.js';

const USAGE = `usage: castor key generate NAME [--out DIR]
       castor key public SECRET_FILE

  generate  Make a new key pair named NAME: writes DIR/NAME.secret (mode 0600)
            and DIR/NAME.public (DIR defaults to .), refusing to overwrite
            either, and prints the public key. Files are byte-identical in
            format to nix-store --generate-binary-cache-key (no newline).
  public    Print the public key of a secret key file (Nix's or ours).

Exit status: 0 ok, 1 could not write the key files, 2 bad usage or input.
`;

async function generate(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...HELP_OPTION, out: { type: 'string', short: 'o' } }, 'key generate');
  if (values['help'] === true) { io.out(USAGE); return 0; }
  if (positionals.length !== 1) throw new UsageError('key generate: expected exactly one NAME');
  const name = positionals[0]!;
  try { checkKeyName(name); } catch (e) { throw new UsageError(`key generate: ${oneLine(e)}`); }
  // NAME doubles as a file name: keep it inside DIR.
  if (name.includes('/') || name === '.' || name === '..') throw new UsageError(`key generate: NAME must not contain '/' or be '.' or '..'`);
  const dir = typeof values['out'] === 'string' ? values['out'] : '.';
  const secretPath = path.join(dir, `${name}.secret`);
  const publicPath = path.join(dir, `${name}.public`);
  const pair = generateKeyPair(name);

  // 'wx' fails if the file exists, so an existing key is never clobbered; both
  // files are claimed before anything is written, and a half-made pair removed.
  let secretFile: FileHandle | undefined;
  let publicFile: FileHandle | undefined;
  try {
    secretFile = await open(secretPath, 'wx', 0o600);
    publicFile = await open(publicPath, 'wx', 0o644);
    await secretFile.chmod(0o600); // exact, whatever the umask did
    await secretFile.writeFile(formatSecretKey(pair.secret));
    await publicFile.writeFile(formatPublicKey(pair.public));
  } catch (e) {
    await secretFile?.close();
    await publicFile?.close();
    if (secretFile !== undefined) await unlink(secretPath).catch(() => undefined);
    if (publicFile !== undefined) await unlink(publicPath).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CommandExit(1, `key generate: ${secretFile === undefined ? secretPath : publicPath} already exists, not overwriting`);
    throw new CommandExit(1, `key generate: ${oneLine(e)}`);
  }
  await secretFile.close();
  await publicFile.close();
  io.out(`${formatPublicKey(pair.public)}\n`);
  return 0;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CommandExit(2, `cannot read ${what} ${file}: ${oneLine(e)}`);
  }
}

/** Read and parse a secret key file; exits 2 with a one-line reason if it is not one. */
export async function loadSecretKeyFile(file: string): Promise<SecretKey> {
  const text = await readText(file, 'secret key file');
  try {
    return parseSecretKey(text);
  } catch (e) {
    if (e instanceof CastorError) throw new CommandExit(2, `${file}: ${e.message}`);
    throw e;
  }
}

async function printPublic(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, HELP_OPTION, 'key public');
  if (values['help'] === true) { io.out(USAGE); return 0; }
  if (positionals.length !== 1) throw new UsageError('key public: expected exactly one SECRET_FILE');
  const secret = await loadSecretKeyFile(positionals[0]!);
  io.out(`${formatPublicKey(publicKeyOf(secret))}\n`);
  return 0;
}

/** Run `castor key ...`; `argv` is what follows the word `key`. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'generate': return await generate(rest, io);
      case 'public': return await printPublic(rest, io);
      case '--help': case '-h': case 'help': io.out(USAGE); return 0;
      case undefined: throw new UsageError('key: missing subcommand (generate, public); see castor key --help');
      default: throw new UsageError(`key: unknown subcommand '${sub}'; see castor key --help`);
    }
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
