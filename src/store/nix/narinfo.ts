// narinfo text (`<hash>.narinfo` of a binary cache): a strict, bounded parser and the
// printer, in the field order Nix 2.8's NarInfo::to_string writes. Unknown fields are
// skipped as Nix skips them; every known one is checked.

import { CastorError, formatSignature, parseSignature } from '../../verify/index.js';
import { canonicalContentAddress } from './content-address.js';
import { decodePrefixedHash, formatNixHash } from './hash-text.js';
import { checkPathInfo, type PathInfo } from './path-info.js';
import { parseBaseName, parseStorePath, STORE_DIR } from './store-path.js';

/** Larger narinfos are refused before parsing (1 MiB: some 15,000 references). */
export const MAX_NARINFO_BYTES = 1024 * 1024;

/** The compressions Nix 2.8 writes and castor decodes. */
export const COMPRESSIONS = ['none', 'xz', 'bzip2', 'zstd', 'br'] as const;
export type Compression = typeof COMPRESSIONS[number];

/** A narinfo: the path's metadata, and where and how its NAR file is served. */
export interface Narinfo extends Omit<PathInfo, 'node'> {
  /** Relative to the cache, e.g. `nar/<filehash>.nar.xz`. */
  readonly url: string;
  readonly compression: Compression;
  /** sha256 of the file as served (compressed). */
  readonly fileHash?: Uint8Array;
  readonly fileSize?: number;
  /** The platform it was built for, e.g. `x86_64-linux` (Nix writes it when known). */
  readonly system?: string;
}

/** Which rule a narinfo broke. Stable, like `code`. */
export type NarinfoReason =
  | 'TOO_LARGE' | 'NOT_TEXT' | 'BAD_LINE' | 'DUPLICATE_FIELD' | 'MISSING_FIELD' | 'BAD_VALUE';

/** A narinfo refused by the parser: why, and on which line (1-based; 0 for the whole text). */
export class NarinfoError extends CastorError {
  readonly reason: NarinfoReason;
  readonly line: number;
  constructor(reason: NarinfoReason, line: number, detail: string, value?: unknown, options?: { cause?: unknown }) {
    super('NARINFO_MALFORMED', `malformed narinfo${line > 0 ? ` at line ${line}` : ''}: ${detail}`, value, options);
    this.reason = reason;
    this.line = line;
  }
}

const SINGLE = new Set(['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'System', 'CA']);
const FIELD_NAME = /^[A-Za-z0-9_-]+$/u;
const PRINTABLE = /^[\x20-\x7e]*$/u;

function sizeValue(text: string, allowZero: boolean): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/u.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && (allowZero || n > 0) ? n : undefined;
}

/**
 * Parses narinfo text. Lines are `Name: value\n` (the last one too), printable ASCII;
 * known fields appear at most once (Sig any number of times). Required: StorePath, URL,
 * NarHash (sha256 in base16, nix32, base64 or SRI; kept as bytes) and a non-zero
 * NarSize; a missing Compression means bzip2, as in Nix. References and Deriver are base
 * names, returned as full paths; `Deriver: unknown-deriver` means none. Throws NarinfoError.
 */
export function parseNarinfo(input: string | Uint8Array): Narinfo {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > MAX_NARINFO_BYTES) throw new NarinfoError('TOO_LARGE', 0, `${size} bytes, more than ${MAX_NARINFO_BYTES}`, size);
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (err: unknown) {
      throw new NarinfoError('NOT_TEXT', 0, 'not UTF-8 text', undefined, { cause: err });
    }
  }
  if (text.length > 0 && !text.endsWith('\n')) throw new NarinfoError('BAD_LINE', text.split('\n').length, 'the last line has no newline');
  const fields = new Map<string, { value: string; line: number }>();
  const sigs: { value: string; line: number }[] = [];
  const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const no = i + 1;
    if (!PRINTABLE.test(line)) throw new NarinfoError('BAD_LINE', no, 'a character outside printable ASCII', line);
    const colon = line.indexOf(': ');
    const name = colon < 0 ? line : line.slice(0, colon);
    if (colon < 0 || !FIELD_NAME.test(name)) throw new NarinfoError('BAD_LINE', no, 'not "Name: value"', line);
    const value = line.slice(colon + 2);
    if (name === 'Sig') sigs.push({ value, line: no });
    else if (SINGLE.has(name)) {
      if (fields.has(name)) throw new NarinfoError('DUPLICATE_FIELD', no, `${name} given twice`, line);
      fields.set(name, { value, line: no });
    }
    // Other names: fields of newer or other writers, ignored as Nix ignores them.
  });
  return buildNarinfo(fields, sigs);
}

function buildNarinfo(fields: Map<string, { value: string; line: number }>, sigs: { value: string; line: number }[]): Narinfo {
  const need = (name: string): { value: string; line: number } => {
    const f = fields.get(name);
    if (f === undefined) throw new NarinfoError('MISSING_FIELD', 0, `no ${name} field`, name);
    return f;
  };
  const check = <T>(name: string, f: { value: string; line: number }, parse: (v: string) => T | undefined, what: string): T => {
    let out: T | undefined;
    let cause: unknown;
    try { out = parse(f.value); } catch (err: unknown) { cause = err; }
    if (out === undefined) {
      const why = cause instanceof Error ? `: ${cause.message}` : '';
      throw new NarinfoError('BAD_VALUE', f.line, `${name} is not ${what}${why}`, f.value, { cause });
    }
    return out;
  };
  const opt = <T>(name: string, parse: (v: string) => T | undefined, what: string): T | undefined => {
    const f = fields.get(name);
    return f === undefined ? undefined : check(name, f, parse, what);
  };

  const storePath = check('StorePath', need('StorePath'), (v) => parseStorePath(v).path, `a store path under ${STORE_DIR}`);
  const url = check('URL', need('URL'), (v) => (v.length > 0 && !v.includes(' ') ? v : undefined), 'a non-empty URL without spaces');
  const compression = opt('Compression', (v) => (COMPRESSIONS as readonly string[]).includes(v) ? v as Compression : undefined, `one of ${COMPRESSIONS.join(', ')}`) ?? 'bzip2';
  const fileHash = opt('FileHash', (v) => decodePrefixedHash(v, 'sha256')?.digest, 'a sha256 hash');
  const fileSize = opt('FileSize', (v) => sizeValue(v, true), 'a size');
  const narHash = check('NarHash', need('NarHash'), (v) => decodePrefixedHash(v, 'sha256')?.digest, 'a sha256 hash (base16, nix32, base64 or SRI)');
  const narSize = check('NarSize', need('NarSize'), (v) => sizeValue(v, false), 'a positive size');
  const references = opt('References', (v) => (v === '' ? [] : v.split(' ').map((r) => parseBaseName(r).path)), 'space-separated store path base names') ?? [];
  const deriver = opt('Deriver', (v) => (v === 'unknown-deriver' ? null : parseBaseName(v).path), 'a store path base name');
  const system = opt('System', (v) => (v.length > 0 ? v : undefined), 'a system name');
  const ca = opt('CA', (v) => canonicalContentAddress(v), 'a content address');
  const signatures = sigs.map((s) => check('Sig', s, (v) => formatSignature(parseSignature(v)), 'keyname:base64(64-byte signature)'));
  // Every field is checked above; this sorts references and signatures.
  const info = checkPathInfo({
    storePath, narHash, narSize, references, signatures,
    ...(deriver !== undefined && deriver !== null && { deriver }),
    ...(ca !== undefined && { ca }),
  });
  return {
    ...info,
    url,
    compression,
    ...(fileHash !== undefined && { fileHash }),
    ...(fileSize !== undefined && { fileSize }),
    ...(system !== undefined && { system }),
  };
}

/**
 * narinfo text in Nix's field order: StorePath, URL, Compression, FileHash, FileSize,
 * NarHash, NarSize, References, Deriver, System, Sig..., CA. Hashes in nix32 with their
 * `sha256:` prefix; references as sorted base names. Checks `n` first (InvalidPathInfoError).
 */
export function formatNarinfo(n: Narinfo): string {
  const info = checkPathInfo(n);
  if (typeof n.url !== 'string' || n.url.length === 0 || !PRINTABLE.test(n.url) || n.url.includes(' ')) {
    throw new NarinfoError('BAD_VALUE', 0, 'URL must be non-empty printable ASCII without spaces', n.url);
  }
  if (!(COMPRESSIONS as readonly string[]).includes(n.compression)) throw new NarinfoError('BAD_VALUE', 0, 'unknown compression', n.compression);
  const base = (p: string): string => p.slice(STORE_DIR.length + 1);
  let out = `StorePath: ${info.storePath}\nURL: ${n.url}\nCompression: ${n.compression}\n`;
  if (n.fileHash !== undefined) {
    if (n.fileHash.length !== 32) throw new NarinfoError('BAD_VALUE', 0, 'fileHash must be 32 bytes (sha256)', n.fileHash.length);
    out += `FileHash: ${formatNixHash('sha256', n.fileHash)}\n`;
  }
  if (n.fileSize !== undefined) {
    if (!Number.isSafeInteger(n.fileSize) || n.fileSize < 0) throw new NarinfoError('BAD_VALUE', 0, 'fileSize must be a size', n.fileSize);
    out += `FileSize: ${n.fileSize}\n`;
  }
  out += `NarHash: ${formatNixHash('sha256', info.narHash)}\nNarSize: ${info.narSize}\n`;
  out += `References: ${info.references.map(base).join(' ')}\n`;
  if (info.deriver !== undefined) out += `Deriver: ${base(info.deriver)}\n`;
  if (n.system !== undefined) {
    if (n.system.length === 0 || !PRINTABLE.test(n.system)) throw new NarinfoError('BAD_VALUE', 0, 'system must be printable ASCII', n.system);
    out += `System: ${n.system}\n`;
  }
  for (const sig of info.signatures) out += `Sig: ${sig}\n`;
  if (info.ca !== undefined) out += `CA: ${info.ca}\n`;
  return out;
}
