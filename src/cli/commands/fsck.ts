// `castor fsck`: re-verify everything in the data dir, quarantine what fails, clean what
// killed writers left in tmp/.

import { DEFAULT_TMP_AGE_MS, fsck, type FsckNote, type FsckProblem, type FsckSummary, type FsckTmpLeftover } from '../../store/index.js';
import { HELP_OPTION, type Io, parse, processIo, reportError, UsageError } from '../cli-io.js';
import { formatDuration, parseDuration } from '../duration.js';
import { progressBar } from '../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, openStore } from '../store-options.js';

export const HELP = `usage: castor fsck [--tmp-age DURATION] [--dry-run] [--json] [--data-dir DIR]

Re-verifies the whole store: every chunk in packs/ hashed against its digest (each
once; a blob of at most 16 KiB is kept as its chunk alone, with no record, and
counted with the chunks), every blob record decoded and its content read in full
through the verifier, every chunk file an older store holds hashed against its
name, every Directory hashed against its name, decoded, validated, and checked to
name only child Directories that are present with the size it claims. A bad packed
chunk's bytes are copied into quarantine/ and its pack rewritten without it.

Each problem is one line on stdout, with the digest and what is wrong. What fails
is moved into quarantine/ under the same relative path (nothing is deleted), and so
is every record naming a bad or missing chunk and every Directory naming a bad or
missing child, so the store stays consistent. Lines starting with "note:" are not
problems: a file whose blob is not stored, a pin naming nothing stored.

Entries in tmp/ not modified for DURATION (default 1h; e.g. 0, 90s, 30m, 2d) are
leftovers of killed writers: they are removed and listed. Younger ones may belong
to a live writer and are left alone.

Options:
  --tmp-age DURATION  age at which tmp/ entries count as leftovers (default 1h)
  --dry-run           report only: quarantine nothing, remove nothing (always so
                      on a read-only data dir)
  --json              print one summary object (with the problems) instead of lines
${DATA_DIR_HELP}

Exit status: 0 the store is consistent (tmp leftovers do not count), 1 problems
were found (or the store could not be read), 2 bad usage.
`;

const OPTIONS = {
  ...HELP_OPTION,
  ...DATA_DIR_OPTION,
  'tmp-age': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, OPTIONS, 'fsck');
    if (values['help'] === true) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`fsck: unexpected argument '${positionals[0]}'`);
    const tmpAgeMs = parseDuration(values['tmp-age'], '--tmp-age', DEFAULT_TMP_AGE_MS);
    const json = values['json'] === true;
    const dryRun = values['dry-run'] === true;
    const data = await openStore(values);
    const problems: FsckProblem[] = [];
    const tmp: FsckTmpLeftover[] = [];
    const notes: FsckNote[] = [];
    let bar: ReturnType<typeof progressBar> | undefined;
    const summary = await fsck(data, {
      tmpAgeMs,
      dryRun,
      onProblem: (p) => (json ? problems.push(p) : io.out(`${problemLine(p)}\n`)),
      onTmp: (t) => (json ? tmp.push(t) : io.out(`${tmpLine(t)}\n`)),
      onNote: (n) => (json ? notes.push(n) : io.out(`note: ${n.kind} ${n.digest}: ${n.detail}\n`)),
      progress: process.stderr.isTTY
        ? {
          start: (total) => { bar = progressBar('fsck', total); },
          update: (done) => bar?.update(done),
          finish: () => bar?.finish(),
        }
        : undefined,
    });
    if (json) io.out(`${JSON.stringify({ ...summaryJson(summary), problems, tmp: tmp.map(tmpJson), notes })}\n`);
    else io.out(`${summaryLine(summary)}\n`);
    return summary.consistent ? 0 : 1;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}

function problemLine(p: FsckProblem): string {
  const what = p.kind === 'stray' ? `stray ${p.path}` : `${p.kind} ${p.digest}`;
  const where = p.quarantined !== undefined ? ` (quarantined to ${p.quarantined})` : ' (not moved)';
  return `${what}: ${p.detail}${where}`;
}

function tmpLine(t: FsckTmpLeftover): string {
  return `tmp ${t.path}: leftover of a killed writer, untouched for ${formatDuration(t.ageMs)} (${t.removed ? 'removed' : 'not removed'})`;
}

function tmpJson(t: FsckTmpLeftover): object {
  return { path: t.path, age_ms: Math.round(t.ageMs), removed: t.removed };
}

function summaryJson(s: FsckSummary): object {
  return {
    consistent: s.consistent,
    checked: s.checked,
    bad: s.bad,
    quarantined: s.quarantined,
    tmp_removed: s.tmpRemoved,
    tmp_kept: s.tmpKept,
    missing_blobs: s.missingBlobs,
    dangling_pins: s.danglingPins,
    dry_run: s.dryRun,
    read_only: s.readOnly,
  };
}

function summaryLine(s: FsckSummary): string {
  const c = s.checked;
  const b = s.bad;
  const bad = b.blobs + b.chunks + b.directories + b.stray;
  const parts = [`checked ${c.blobs} blob records, ${c.chunks} chunks, ${c.directories} directories`];
  parts.push(bad === 0 ? 'no problems' : `${bad} bad (${b.blobs} blob records, ${b.chunks} chunks, ${b.directories} directories, ${b.stray} stray), ${s.quarantined} quarantined`);
  if (s.tmpRemoved > 0) parts.push(`${s.tmpRemoved} tmp leftovers removed`);
  if (s.readOnly) parts.push('read-only data dir: nothing moved');
  else if (s.dryRun) parts.push('dry run: nothing moved');
  return `fsck: ${parts.join('; ')}`;
}
