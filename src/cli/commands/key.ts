// `castor key`: make and inspect ed25519 signing keys in Nix's binary-cache format.

import { open, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CastorError } from '../../verify/errors.js';
import {
  type SecretKey, checkKeyName, formatPublicKey, formatSecretKey, generateKeyPair, parseSecretKey, publicKeyOf,
} from '../../verify/keys.js';

/** Where output goes; tests pass their own. */
export interface Io { out: (s: string) => void; err: (s: string) => void }
export const processIo: Io = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

const USAGE = `usage: castor key generate NAME [--out DIR]
       castor key public SECRET_FILE

  generate  Make a new key pair named NAME: writes DIR/NAME.secret (mode 0600)
            and DIR/NAME.public (DIR defaults to .), refusing to overwrite
            either, and prints the public key. Files are byte-identical in
            format to nix-store --generate-binary-cache-key (no newline).
  public    Print the public key of a secret key file (Nix's or ours).

Exit status: 0 ok, 1 could not write the key files, 2 bad usage or input.
`;

/** A failure with its exit status; `runCommand` prints the message as one line. */
export class CommandExit extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** Run a command body, turning a CommandExit into `castor: ...` on stderr and its status. */
export async function runCommand(io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (!(e instanceof CommandExit)) throw e;
    io.err(`castor: ${e.message}\n`);
    return e.status;
  }
}

export interface ParsedArgs { values: Record<string, unknown>; positionals: string[] }

/** util.parseArgs (strict) plus --help; a parse error becomes exit status 2. */
export function parse(where: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): ParsedArgs {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CommandExit(2, `${where}: ${oneLine(e)}`);
  }
}

async function generate(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('key generate', args, { out: { type: 'string', short: 'o' } });
  if (values['help'] === true) { io.out(USAGE); return 0; }
  if (positionals.length !== 1) throw new CommandExit(2, 'key generate: expected exactly one NAME');
  const name = positionals[0]!;
  try { checkKeyName(name); } catch (e) { throw new CommandExit(2, `key generate: ${oneLine(e)}`); }
  // NAME doubles as a file name: keep it inside DIR.
  if (name.includes('/') || name === '.' || name === '..') throw new CommandExit(2, `key generate: NAME must not contain '/' or be '.' or '..'`);
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
  const { values, positionals } = parse('key public', args, {});
  if (values['help'] === true) { io.out(USAGE); return 0; }
  if (positionals.length !== 1) throw new CommandExit(2, 'key public: expected exactly one SECRET_FILE');
  const secret = await loadSecretKeyFile(positionals[0]!);
  io.out(`${formatPublicKey(publicKeyOf(secret))}\n`);
  return 0;
}

/** Run `castor key ...`; `argv` is what follows the word `key`. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  return runCommand(io, async () => {
    switch (sub) {
      case 'generate': return generate(rest, io);
      case 'public': return printPublic(rest, io);
      case '--help': case '-h': case 'help': io.out(USAGE); return 0;
      case undefined: throw new CommandExit(2, 'key: missing subcommand (generate, public); see castor key --help');
      default: throw new CommandExit(2, `key: unknown subcommand '${sub}'; see castor key --help`);
    }
  });
}
