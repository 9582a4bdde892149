// castor nix sign-fingerprint / verify-fingerprint: sign and check narinfo fingerprints,
// as a Nix binary cache does.

import { readFile } from 'node:fs/promises';
import { CastorError } from '../../../verify/index.js';
import { type PublicKey, parsePublicKey, parseSignature } from '../../../verify/index.js';
import { parseFingerprint, signFingerprint, verifyFingerprint } from '../../../verify/index.js';
import { CommandExit, HELP_OPTION, type Io, oneLine, parse, UsageError } from '../../cli-io.js';
import { loadSecretKeyFile } from '../key.js';

export const FINGERPRINT_HELP = `usage: castor nix sign-fingerprint FINGERPRINT --key SECRET_FILE
       castor nix verify-fingerprint FINGERPRINT SIG PUBLIC_KEY...

  FINGERPRINT  1;<storepath>;sha256:<nix32>;<narSize>;<comma-separated store paths>
               exactly as Nix computes it (quote it: it contains ';').
  SIG          name:base64(64-byte signature), a narinfo Sig: value.
  PUBLIC_KEY   name:base64(32 bytes), or a file holding one. The signature's
               name picks the key; several may be given.

  sign-fingerprint    prints the signature name:base64.
  verify-fingerprint  exit 0 valid, 1 not valid (or no key of that name),
                      2 malformed input or bad usage.
`;

function checkFingerprint(fp: string): void {
  try {
    parseFingerprint(fp);
  } catch (e) {
    throw new UsageError(`FINGERPRINT: ${oneLine(e)}`);
  }
}

export async function signCmd(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...HELP_OPTION, key: { type: 'string', short: 'k' } }, 'nix sign-fingerprint');
  if (values['help'] === true) { io.out(FINGERPRINT_HELP); return 0; }
  if (positionals.length !== 1) throw new UsageError('nix sign-fingerprint: expected exactly one FINGERPRINT');
  const keyFile = values['key'];
  if (typeof keyFile !== 'string') throw new UsageError('nix sign-fingerprint: --key SECRET_FILE is required');
  const fp = positionals[0]!;
  checkFingerprint(fp);
  const secret = await loadSecretKeyFile(keyFile);
  io.out(`${signFingerprint(secret, fp)}\n`);
  return 0;
}

/** A key given inline, else a file holding one; a real key text contains '/' as often as a path does. */
async function loadPublicKey(arg: string): Promise<PublicKey> {
  let inlineError: string;
  try {
    return parsePublicKey(arg);
  } catch (e) {
    if (!(e instanceof CastorError)) throw e;
    inlineError = e.message;
  }
  let text: string;
  try {
    text = await readFile(arg, 'utf8');
  } catch {
    throw new UsageError(`PUBLIC_KEY '${arg}': not a key (${inlineError}) nor a readable file`);
  }
  try {
    return parsePublicKey(text);
  } catch (e) {
    if (!(e instanceof CastorError)) throw e;
    throw new CommandExit(2, `${arg}: ${e.message}`);
  }
}

export async function verifyCmd(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, HELP_OPTION, 'nix verify-fingerprint');
  if (values['help'] === true) { io.out(FINGERPRINT_HELP); return 0; }
  if (positionals.length < 3) throw new UsageError('nix verify-fingerprint: expected FINGERPRINT SIG PUBLIC_KEY...');
  const [fp, sigText, ...keyArgs] = positionals as [string, string, ...string[]];
  checkFingerprint(fp);
  let name: string;
  try {
    name = parseSignature(sigText).name;
  } catch (e) {
    throw new UsageError(`SIG: ${oneLine(e)}`);
  }
  const keys: PublicKey[] = [];
  for (const arg of keyArgs) keys.push(await loadPublicKey(arg));
  if (!keys.some((k) => k.name === name)) throw new CommandExit(1, `no public key named '${name}' given`);
  if (!verifyFingerprint(fp, sigText, keys)) throw new CommandExit(1, `signature by '${name}' is NOT valid for this fingerprint`);
  io.out(`signature by '${name}' is valid\n`);
  return 0;
}
