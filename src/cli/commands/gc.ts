// `castor gc`: remove the blobs, Directories and chunks no pin or signed root keeps.

import { DEFAULT_GRACE_MS, gc, type GcSummary } from '../../store/index.js';
import { HELP_OPTION, type Io, parse, processIo, reportError, UsageError } from '../cli-io.js';
import { parseDuration } from '../duration.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, openStore } from '../store-options.js';

export const HELP = `usage: castor gc [--grace DURATION] [--dry-run] [--json] [-v] [--data-dir DIR]

Removes what no root keeps. Roots are the pins (castor pin ls) and what the signed
roots this store accepted name (their Index blobs and each entry's tree or file).
A Directory root keeps every Directory below it and every blob its files name; a
blob keeps its chunks. Everything else goes: blob records first, then chunks, so
the store stays consistent even if gc is killed. A blob of at most 16 KiB is kept as
its chunk alone (no record) and counted with the chunks. Chunks are kept in packs
(packs/): a pack holding dead chunks is rewritten with the live ones and the old one
removed; one a running process may still append to is left whole until it is done.

Anything modified within the grace period is kept, with all it names: a writer
publishes chunks before its record, and trees before the pin that will keep them.
Leftovers of killed writers in tmp/ (untouched for an hour) are removed too.

Options:
  --grace DURATION  keep entries younger than this (default 1h; e.g. 0, 30m, 2d)
  --dry-run         count (and with -v list) what would be removed; remove nothing
  --json            print one summary object:
                    {"removed":{"blobs","dirs","chunks"},"bytes_freed","kept":{...},...}
  -v, --verbose     one line per entry removed: KIND DIGEST BYTES
${DATA_DIR_HELP}

Exit status: 0 done, 1 the store could not be read or is damaged (gc then removes
nothing; run castor fsck), 2 bad usage.
`;

const OPTIONS = {
  ...HELP_OPTION,
  ...DATA_DIR_OPTION,
  grace: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, OPTIONS, 'gc');
    if (values['help'] === true) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`gc: unexpected argument '${positionals[0]}'`);
    const graceMs = parseDuration(values['grace'], '--grace', DEFAULT_GRACE_MS);
    const json = values['json'] === true;
    const dryRun = values['dry-run'] === true;
    const verbose = values['verbose'] === true;
    const data = await openStore(values);
    const summary = await gc(data, {
      graceMs,
      dryRun,
      onRemove: verbose && !json ? (e) => io.out(`${dryRun ? 'would remove ' : ''}${e.kind} ${e.digest} ${e.bytes}\n`) : undefined,
    });
    io.out(`${json ? JSON.stringify(summaryJson(summary)) : summaryLine(summary)}\n`);
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}

function summaryJson(s: GcSummary): object {
  return {
    removed: s.removed,
    bytes_freed: s.bytesFreed,
    kept: s.kept,
    young: s.young,
    roots: s.roots,
    missing_roots: s.missingRoots,
    tmp_removed: s.tmpRemoved,
    dry_run: s.dryRun,
  };
}

function summaryLine(s: GcSummary): string {
  const r = s.removed;
  const k = s.kept;
  const verb = s.dryRun ? 'would remove' : 'removed';
  return `gc: ${verb} ${r.blobs} blob records, ${r.dirs} directories, ${r.chunks} chunks (${formatBytes(s.bytesFreed)}); `
    + `kept ${k.blobs} blob records, ${k.dirs} directories, ${k.chunks} chunks from ${s.roots} roots`
    + (s.young.blobs + s.young.dirs + s.young.chunks > 0 ? ` (${s.young.blobs + s.young.dirs + s.young.chunks} unreachable but within the grace period)` : '');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
