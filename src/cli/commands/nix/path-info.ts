// castor nix path-info STOREPATH... [-r] and castor nix ls: the PathInfos held, as
// `nix path-info` shows them.

import { compareStorePaths, formatNixHash, type PathInfo } from '../../../store/index.js';
import { CommandExit, HELP_OPTION, type Io, parse, UsageError } from '../../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../../store-options.js';
import { openNixStore, pathInfoJson, storePathArg } from './nix-options.js';

export const PATH_INFO_HELP = `usage: castor nix path-info STOREPATH... [-r] [--json] [--data-dir DIR]

What the data dir holds for each store path: narHash, narSize, references, deriver,
signatures and content address, as \`nix path-info\` knows them.
  -r, --recursive  every path in the closure of the STOREPATHs
  --json           one JSON array in \`nix path-info --json\`'s shape (narHash in SRI form)
${DATA_DIR_HELP}
Paths are listed sorted. Exit status: 0 shown, 1 a path (or a reference) not held,
2 bad usage.
`;

export const LS_HELP = `usage: castor nix ls [--json] [--data-dir DIR]

Every store path the data dir holds, sorted, one a line; --json: an array as
\`castor nix path-info --json\` prints it.
${DATA_DIR_HELP}
`;

function describe(info: PathInfo): string {
  const rows: [string, string][] = [
    ['narHash', formatNixHash('sha256', info.narHash)],
    ['narSize', String(info.narSize)],
    ...(info.references.length === 0 ? [['references', '-'] as [string, string]] : info.references.map((r): [string, string] => ['references', r])),
    ['deriver', info.deriver ?? '-'],
    ...(info.signatures.length === 0 ? [['signatures', '-'] as [string, string]] : info.signatures.map((s): [string, string] => ['signatures', s])),
    ['ca', info.ca ?? '-'],
  ];
  let last = '';
  const lines = rows.map(([k, v]) => {
    const label = k === last ? '' : k;
    last = k;
    return `  ${label.padEnd(12)}${v}\n`;
  });
  return `${info.storePath}\n${lines.join('')}`;
}

function print(io: Io, infos: readonly PathInfo[], json: boolean): void {
  const sorted = [...infos].sort((a, b) => compareStorePaths(a.storePath, b.storePath));
  if (json) io.out(`${JSON.stringify(sorted.map(pathInfoJson))}\n`);
  else for (const info of sorted) io.out(describe(info));
}

export async function pathInfoCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, recursive: { type: 'boolean', short: 'r' }, json: { type: 'boolean' } }, 'nix path-info');
  if (values['help'] === true) { io.out(PATH_INFO_HELP); return 0; }
  if (positionals.length === 0) throw new UsageError('nix path-info: expected STOREPATH...');
  const paths = positionals.map((p) => storePathArg(p));
  const store = await openNixStore(values);
  let infos: PathInfo[] = [];
  for (const p of new Set(paths)) {
    const info = await store.paths.get(p);
    if (info === undefined) throw new CommandExit(1, `${p} is not held in ${store.data.layout.root}`, 'NOT_FOUND');
    infos.push(info);
  }
  // A held path's references are held (the store is closed under them); closure() says which is not if one went.
  if (values['recursive'] === true) infos = await store.paths.closure(paths);
  print(io, infos, values['json'] === true);
  return 0;
}

export async function lsCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' } }, 'nix ls');
  if (values['help'] === true) { io.out(LS_HELP); return 0; }
  if (positionals.length > 0) throw new UsageError('nix ls: takes no arguments');
  const store = await openNixStore(values);
  const infos = await store.paths.list();
  if (values['json'] === true) print(io, infos, true);
  else for (const info of infos) io.out(`${info.storePath}\n`);
  return 0;
}
