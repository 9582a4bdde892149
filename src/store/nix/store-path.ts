// Nix store paths (`/nix/store/<32 nix32 chars>-<name>`) and their base names, checked
// as Nix's StorePath constructor and checkName do. Only the store dir /nix/store is served.

import { CastorError, nix32Decode } from '../../verify/index.js';

/** The one store dir castor serves: its narinfos, fingerprints and NARs name paths under it. */
export const STORE_DIR = '/nix/store';
/** Characters of a hash part: 160 bits in Nix's base32. */
export const HASH_PART_LENGTH = 32;
/** Bytes a hash part decodes to. */
export const HASH_PART_BYTES = 20;
/** Nix's limit on the name after `<hash>-` (checkName: a base name fits in 255 with room to spare). */
export const MAX_NAME_LENGTH = 211;

const HASH_PART = /^[0123456789abcdfghijklmnpqrsvwxyz]{32}$/u;
const NAME = /^[A-Za-z0-9+\-._?=]+$/u;

/** Which rule a store path broke. Stable, like `code`. */
export type InvalidStorePathReason =
  | 'NOT_TEXT'
  | 'WRONG_STORE_DIR' // not directly under /nix/store
  | 'BAD_HASH_PART' // not 32 characters of Nix's base32
  | 'EMPTY_NAME'
  | 'NAME_TOO_LONG' // over 211 characters
  | 'BAD_NAME_CHAR' // outside [A-Za-z0-9+-._?=]
  | 'DOT_NAME'; // starts with '.'

/** A store path or base name Nix would refuse, or one outside /nix/store. `value` is the text. */
export class InvalidStorePathError extends CastorError {
  readonly reason: InvalidStorePathReason;
  constructor(reason: InvalidStorePathReason, detail: string, value: unknown) {
    super('INVALID_STORE_PATH', `invalid store path ${JSON.stringify(String(value))}: ${detail}`, value);
    this.reason = reason;
  }
}

/** A checked store path. */
export interface StorePath {
  /** The 32 nix32 characters, e.g. `7h4wk...`: the key a binary cache files narinfos under. */
  readonly hashPart: string;
  /** The part after the dash, e.g. `hello-2.12.1`. */
  readonly name: string;
  /** `<hashPart>-<name>`. */
  readonly baseName: string;
  /** `/nix/store/<baseName>`. */
  readonly path: string;
}

/** Checks a hash part (32 nix32 characters); returns it. */
export function checkHashPart(text: unknown): string {
  if (typeof text !== 'string') throw new InvalidStorePathError('NOT_TEXT', 'not a string', text);
  if (!HASH_PART.test(text)) throw new InvalidStorePathError('BAD_HASH_PART', `hash part must be ${HASH_PART_LENGTH} characters of Nix's base32`, text);
  return text;
}

/** The 20 bytes a hash part stands for (as NixInfo and tvix's StorePath keep them). */
export function hashPartBytes(hashPart: string): Uint8Array {
  const bytes = nix32Decode(checkHashPart(hashPart), HASH_PART_BYTES);
  // 32 characters are exactly 160 bits, so every checked hash part decodes.
  if (bytes === undefined) throw new InvalidStorePathError('BAD_HASH_PART', 'does not decode', hashPart);
  return bytes;
}

/** Checks the name part of a store path as Nix's checkName does, plus Nix's rule against a leading '.'. */
export function checkStorePathName(name: string, whole: unknown = name): void {
  if (name.length === 0) throw new InvalidStorePathError('EMPTY_NAME', 'empty name', whole);
  if (name.length > MAX_NAME_LENGTH) throw new InvalidStorePathError('NAME_TOO_LONG', `name longer than ${MAX_NAME_LENGTH} characters`, whole);
  if (!NAME.test(name)) throw new InvalidStorePathError('BAD_NAME_CHAR', 'name has a character outside [A-Za-z0-9+-._?=]', whole);
  if (name.startsWith('.')) throw new InvalidStorePathError('DOT_NAME', 'name starts with "."', whole);
}

/** Parses `<hash>-<name>` (a narinfo's References and Deriver entries). */
export function parseBaseName(text: unknown): StorePath {
  if (typeof text !== 'string') throw new InvalidStorePathError('NOT_TEXT', 'not a string', text);
  return parseBase(text, text);
}

function parseBase(text: string, whole: string): StorePath {
  const hashPart = text.slice(0, HASH_PART_LENGTH);
  if (!HASH_PART.test(hashPart)) throw new InvalidStorePathError('BAD_HASH_PART', `base name must start with ${HASH_PART_LENGTH} characters of Nix's base32`, whole);
  if (text[HASH_PART_LENGTH] !== '-') throw new InvalidStorePathError('EMPTY_NAME', 'no "-<name>" after the hash part', whole);
  const name = text.slice(HASH_PART_LENGTH + 1);
  checkStorePathName(name, whole);
  return { hashPart, name, baseName: text, path: `${STORE_DIR}/${text}` };
}

/** Parses a full store path; only paths directly under /nix/store are accepted. */
export function parseStorePath(text: unknown): StorePath {
  if (typeof text !== 'string') throw new InvalidStorePathError('NOT_TEXT', 'not a string', text);
  const prefix = `${STORE_DIR}/`;
  if (!text.startsWith(prefix) || text.indexOf('/', prefix.length) !== -1) {
    throw new InvalidStorePathError('WRONG_STORE_DIR', `not of the form ${STORE_DIR}/<hash>-<name> (only the store dir ${STORE_DIR} is supported)`, text);
  }
  return parseBase(text.slice(prefix.length), text);
}

/** True iff `text` is a full store path parseStorePath accepts. */
export function isStorePath(text: unknown): boolean {
  try {
    parseStorePath(text);
    return true;
  } catch {
    return false;
  }
}

/** Byte order of store paths (ASCII, so UTF-16 order is the same): Nix's std::set order. */
export function compareStorePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
