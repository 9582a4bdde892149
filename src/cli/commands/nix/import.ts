// castor nix import: store paths into the data dir, from a NAR file (with its narinfo)
// or from a binary cache with their closure. Trust is decided before a NAR byte is read;
// a PathInfo is put only once its NAR matched NarHash and NarSize.

import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import {
  type Compression, COMPRESSIONS, importFromCache, importNar, type Narinfo, openBinaryCache, parseNarinfo, type PathInfo, pathTrust, type PathTrust,
} from '../../../store/index.js';
import { CommandExit, HELP_OPTION, inputStream, type Io, isStdio, parse, UsageError } from '../../cli-io.js';
import { type Progress, progressBar, progressCounter } from '../../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../../store-options.js';
import { type NixStore, openNixStore, storePathArg, TRUSTED_NIX_KEY_HELP, TRUSTED_NIX_KEY_OPTION, trustedNixKeys } from './nix-options.js';

export const IMPORT_HELP = `usage: castor nix import --from CACHE_URL STOREPATH... [options]
       castor nix import NAR (--narinfo FILE | --store-path STOREPATH) [options]

Imports Nix store paths into the data dir as castore trees with their PathInfo.

--from CACHE_URL  a binary cache: file:///dir (what nix copy --to file://dir writes)
                  or http(s)://host[/prefix]. Each STOREPATH is imported with every
                  path it references, dependencies first; paths already held are kept.
                  Every narinfo is fetched and trusted before any NAR is read.
NAR               a NAR file, or - for stdin; xz, zstd and bzip2 are recognised by
                  their magic bytes, otherwise the narinfo's Compression applies (br).
  --narinfo FILE  the path's narinfo: store path, NarHash, NarSize, references,
                  deriver, signatures, CA. Its references must already be held.
  --store-path P  without a narinfo: the store path the NAR is (nothing vouches for
                  it, so --no-check-sigs is needed); --reference P for each path it
                  refers to (repeatable).

A path is taken when one of its signatures is by a trusted Nix key, or it is
content-addressed and its CA gives its store path (the content is then checked
against the CA), or with --no-check-sigs. Every NAR must hash to its NarHash and be
NarSize bytes; a failed path gets no PathInfo, nor does anything after it (what
passed before it stays, each with its references).
${TRUSTED_NIX_KEY_HELP}
  --no-check-sigs take paths no trusted key signed
  --json          print {"imported": [STOREPATH...], "present": [STOREPATH...]}
${DATA_DIR_HELP}
Prints each imported store path. Exit status: 0 imported, 1 refused (untrusted,
mismatch, missing, I/O), 2 bad usage.
`;

const OPTIONS = {
  ...HELP_OPTION, ...DATA_DIR_OPTION, ...TRUSTED_NIX_KEY_OPTION,
  from: { type: 'string' }, narinfo: { type: 'string' }, 'store-path': { type: 'string' }, reference: { type: 'string', multiple: true },
  'no-check-sigs': { type: 'boolean' }, json: { type: 'boolean' },
} as const;

export async function importCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, 'nix import');
  if (values['help'] === true) { io.out(IMPORT_HELP); return 0; }
  const checkSigs = values['no-check-sigs'] !== true;
  const from = values['from'];
  if (typeof from === 'string') {
    if (positionals.length === 0) throw new UsageError('nix import --from: expected STOREPATH...');
    for (const flag of ['narinfo', 'store-path', 'reference'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`nix import --from: --${flag} is for importing a NAR file`);
    }
    const storePaths = positionals.map((p) => storePathArg(p));
    const cache = openBinaryCache(from);
    const store = await openNixStore(values, { create: true, durable: 'batch' });
    const keys = await trustedNixKeys(values, store.data);
    let bar: Progress | undefined;
    try {
      const r = await importFromCache(cache, storePaths, {
        blobs: store.data.blobs, directories: store.data.directories, trustedKeys: keys, checkSigs,
        pathInfos: { has: (p) => store.paths.has(p), put: (info) => store.paths.put(info, { trustedKeys: keys, noCheckSigs: !checkSigs }) },
        sync: () => store.data.sync(),
        onPlan: (plan) => { bar = progressBar('import', plan.reduce((n, i) => n + i.narSize, 0)); },
        onBytes: (n) => bar?.update(n),
      });
      report(io, values['json'] === true, r.imported.map((i) => i.storePath), [...r.present]);
    } finally {
      bar?.finish();
    }
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`nix import: expected one NAR (or --from CACHE_URL STOREPATH...), got ${positionals.length} arguments`);
  return importNarFile(positionals[0]!, values, checkSigs, io);
}

function report(io: Io, json: boolean, imported: string[], present: string[]): void {
  if (json) io.out(`${JSON.stringify({ imported, present })}\n`);
  else for (const p of imported) io.out(`${p}\n`);
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The narinfo (from --narinfo) or what --store-path and --reference say. */
async function describeNar(values: Values): Promise<Narinfo | (Omit<PathInfo, 'node' | 'narHash' | 'narSize'> & { narHash?: undefined; narSize?: undefined; compression?: undefined })> {
  const narinfoFile = values['narinfo'];
  const storePath = values['store-path'];
  const refs = values['reference'];
  if (typeof narinfoFile === 'string') {
    if (storePath !== undefined || refs !== undefined) throw new UsageError('nix import: --store-path and --reference come from the narinfo when --narinfo is given');
    let bytes: Uint8Array;
    try {
      bytes = await readFile(narinfoFile);
    } catch (err: unknown) {
      throw new CommandExit(1, `cannot read --narinfo ${narinfoFile}: ${(err as Error).message}`);
    }
    return parseNarinfo(bytes);
  }
  if (typeof storePath !== 'string') {
    throw new UsageError('nix import: a NAR alone does not say which store path it is: give --narinfo FILE (or --store-path STOREPATH and --no-check-sigs)');
  }
  const references = (Array.isArray(refs) ? refs : []).map((r) => storePathArg(String(r), '--reference'));
  return { storePath: storePathArg(storePath, '--store-path'), references, signatures: [] };
}

async function importNarFile(file: string, values: Values, checkSigs: boolean, io: Io): Promise<number> {
  const described = await describeNar(values);
  const store = await openNixStore(values, { create: true, durable: 'batch' });
  const keys = await trustedNixKeys(values, store.data);
  let trust: PathTrust;
  if (described.narHash !== undefined) trust = pathTrust(described, keys, checkSigs);
  else if (checkSigs) throw new CommandExit(1, `${described.storePath}: nothing vouches for a NAR without its narinfo: give --narinfo FILE, or --no-check-sigs`, 'UNTRUSTED_PATH');
  else trust = { by: 'unchecked' };
  await refuseMissingReferences(store, described.storePath, described.references);
  if (!isStdio(file)) {
    try {
      await access(file, constants.R_OK);
    } catch (err: unknown) {
      throw new CommandExit(1, `cannot read NAR ${file}: ${(err as Error).message}`, 'IO');
    }
  }
  const { compression, stream } = await sniffCompression(inputStream(file), described.compression ?? 'none');
  const total = described.narSize;
  const bar = total !== undefined ? progressBar('import', total) : undefined;
  const counter = total === undefined ? progressCounter('import') : undefined;
  let info: PathInfo;
  try {
    const got = await importNar(stream, compression, {
      storePath: described.storePath,
      ...(described.narHash !== undefined && { narHash: described.narHash }),
      ...(described.narSize !== undefined && { narSize: described.narSize }),
      ...(trust.by === 'content-address' && { ca: trust.ca }),
    }, { blobs: store.data.blobs, directories: store.data.directories, onBytes: (n) => { bar?.update(n); counter?.update(1, n); } });
    info = {
      storePath: described.storePath, node: got.node, narHash: got.narHash, narSize: got.narSize, references: described.references,
      ...(described.deriver !== undefined && { deriver: described.deriver }), signatures: described.signatures,
      ...(described.ca !== undefined && { ca: described.ca }),
    };
  } finally {
    bar?.finish();
    counter?.finish();
  }
  await store.data.sync();
  await store.paths.put(info, { trustedKeys: keys, noCheckSigs: !checkSigs });
  report(io, values['json'] === true, [info.storePath], []);
  return 0;
}

/** Before reading the NAR: a path whose references are not all held would be refused at the end anyway. */
async function refuseMissingReferences(store: NixStore, storePath: string, references: readonly string[]): Promise<void> {
  for (const r of references) {
    if (r !== storePath && !(await store.paths.has(r))) {
      throw new CommandExit(1, `${storePath} references ${r}, which is not held: import it first (castor nix import --from CACHE_URL imports a closure)`, 'NIX_MISSING_REFERENCE');
    }
  }
}

const MAGICS: readonly (readonly [Compression, readonly number[]])[] = [
  ['none', [13, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('nix-archive-1')]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];
const SNIFF_BYTES = 21;

/** The compression the first bytes show (else `declared`), and the whole input again. */
async function sniffCompression(input: AsyncIterable<Uint8Array>, declared: Compression): Promise<{ compression: Compression; stream: AsyncIterable<Uint8Array> }> {
  if (!(COMPRESSIONS as readonly string[]).includes(declared)) throw new UsageError(`unknown compression ${declared}`);
  const it = input[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < SNIFF_BYTES) {
    const r = await it.next();
    if (r.done === true) { ended = true; break; }
    head.push(r.value);
    have += r.value.length;
  }
  const start = Buffer.concat(head);
  const found = MAGICS.find(([, magic]) => start.length >= magic.length && magic.every((b, i) => start[i] === b));
  async function* whole(): AsyncGenerator<Uint8Array> {
    yield* head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield r.value;
    }
  }
  return { compression: found?.[0] ?? declared, stream: whole() };
}
