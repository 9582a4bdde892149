// castor get DIGEST OUTPUT: a stored tree or file recreated at OUTPUT.

import { exportNode } from '../../store/index.js';
import { HELP_OPTION, intArg, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { progressCounter } from '../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, findOrFail, openStore } from '../store-options.js';

const HELP = `Usage: castor get DIGEST OUTPUT [--force] [--json] [--jobs N] [--data-dir DIR]

Recreates the tree (or file) DIGEST at OUTPUT: names byte for byte, executable bits,
symlinks as symlinks. Every byte is verified on the way out; nothing is written outside
OUTPUT, and on failure what was written is removed.
  --force     replace OUTPUT if it exists (it is removed first)
  --json      print {"digest", "output", "files", "directories", "symlinks", "bytes"}
  --jobs N    files written at once (default 8)
${DATA_DIR_HELP}
Exit status: 0 written, 1 not in the store, corrupt, OUTPUT exists or I/O failure, 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, force: { type: 'boolean' }, json: { type: 'boolean' }, jobs: { type: 'string' } }, 'get');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`get: expected DIGEST OUTPUT, got ${positionals.length} arguments`);
    const digest = digestArg(positionals[0]);
    const output = positionals[1]!;
    const jobs = intArg(values['jobs'], '--jobs', 8, 1, 256);
    const data = await openStore(values);
    const found = await findOrFail(data, digest);
    const bar = progressCounter(`get ${output}`);
    try {
      const r = await exportNode(found.node, output, { ...data, force: values['force'] === true, concurrency: jobs, onProgress: (p) => bar.update(p.files, p.bytes) });
      if (values['json']) io.out(`${JSON.stringify({ digest: positionals[0]!.toLowerCase(), output, ...r })}\n`);
    } finally {
      bar.finish();
    }
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
