// `castor pin add|rm|ls`: the digests gc must keep.

import type { DataDir } from '../../store/index.js';
import { formatDigest, type Digest } from '../../store/index.js';
import { addPin, listPins, removePin, type Pin } from '../../store/index.js';
import { CommandExit, HELP_OPTION, type Io, parse, processIo, reportError, UsageError } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, openStore } from '../store-options.js';

export const HELP = `usage: castor pin add DIGEST... [--label TEXT] [--data-dir DIR]
       castor pin rm DIGEST... [--data-dir DIR]
       castor pin ls [--json] [--data-dir DIR]

Pins are the digests castor gc keeps (with everything below them); castor add pins
what it stores.

  add  Pin each DIGEST, which must be in the store as a blob or a Directory (all are
       checked before any is pinned). --label TEXT is kept with the pin for people
       reading pin ls. Pinning again replaces the label.
  rm   Unpin each DIGEST. Exit 1 if one of them was not pinned (the others are
       still unpinned).
  ls   One line per pin: DIGEST TYPE TIME LABEL, in digest order. --json: one array
       of {"digest", "type", "label", "time"} (time in ISO 8601).
${DATA_DIR_HELP}

Exit status: 0 done, 1 a digest is not in the store or not pinned (or the store
could not be read or written), 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'add': return await add(rest, io);
      case 'rm': return await rm(rest, io);
      case 'ls': return await ls(rest, io);
      case '--help': case '-h': case 'help':
        io.out(HELP);
        return 0;
      case undefined:
        throw new UsageError('pin: missing sub-command: add, rm or ls');
      default:
        throw new UsageError(`pin: unknown sub-command '${sub}': expected add, rm or ls`);
    }
  } catch (err: unknown) {
    return reportError(err, io);
  }
}

function digests(positionals: string[], where: string): Digest[] {
  if (positionals.length === 0) throw new UsageError(`${where}: missing DIGEST`);
  return positionals.map((p) => digestArg(p));
}

/** What `digest` is in the store; undefined if neither a Directory nor a blob. */
async function typeOf(data: DataDir, digest: Digest): Promise<Pin['type'] | undefined> {
  // The empty Directory and the empty blob share a digest; either way the tree is what a user pins.
  if ((await data.directories.get(digest)) !== undefined) return 'directory';
  if (await data.blobs.has(digest)) return 'blob';
  return undefined;
}

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, label: { type: 'string' } }, 'pin add');
  if (values['help'] === true) {
    io.out(HELP);
    return 0;
  }
  const wanted = digests(positionals, 'pin add');
  const label = typeof values['label'] === 'string' ? values['label'] : '';
  const data = await openStore(values);
  const types: Pin['type'][] = [];
  for (const d of wanted) {
    const type = await typeOf(data, d);
    if (type === undefined) throw new CommandExit(1, `pin add: ${formatDigest(d)} is not in the store at ${data.layout.root} (neither a blob nor a directory); nothing pinned`, 'NOT_FOUND');
    types.push(type);
  }
  for (const [i, d] of wanted.entries()) await addPin(data.layout, { digest: d, type: types[i]!, label });
  return 0;
}

async function rm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION }, 'pin rm');
  if (values['help'] === true) {
    io.out(HELP);
    return 0;
  }
  const wanted = digests(positionals, 'pin rm');
  const data = await openStore(values);
  let status = 0;
  for (const d of wanted) {
    if (!(await removePin(data.layout, d))) status = reportError(new CommandExit(1, `pin rm: ${formatDigest(d)} is not pinned`, 'NOT_PINNED'), io);
  }
  return status;
}

async function ls(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' } }, 'pin ls');
  if (values['help'] === true) {
    io.out(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`pin ls: unexpected argument '${positionals[0]}'`);
  const data = await openStore(values);
  const pins = await listPins(data.layout);
  const time = (p: Pin): string => (p.time > 0 ? new Date(p.time).toISOString() : '-');
  if (values['json'] === true) {
    io.out(`${JSON.stringify(pins.map((p) => ({ digest: formatDigest(p.digest), type: p.type, label: p.label, time: p.time > 0 ? time(p) : null })))}\n`);
  } else {
    io.out(pins.map((p) => `${formatDigest(p.digest)}  ${p.type.padEnd(9)}  ${time(p)}  ${printable(p.label)}\n`).join(''));
  }
  return 0;
}

/** A label on one line: control characters (a newline in a path, say) shown as '?'. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}
