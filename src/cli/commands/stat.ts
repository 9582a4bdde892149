// castor stat DIGEST: what a digest names in the store, and its shape.

import { groupBytes } from '../../verify/index.js';
import { BLOB_GROUP_LOG } from '../../store/index.js';
import { formatDigest } from '../../store/index.js';
import { HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, findOrFail, openStore } from '../store-options.js';

const HELP = `Usage: castor stat DIGEST [--json] [--data-dir DIR]

Says what DIGEST is in the store. A blob: its size, FastCDC chunk count, outboard size
and 16 KiB group count. A directory: its castore size (entries below it, counted as
tvix does) and its direct entries by kind. Nothing is read beyond the record.
  --json   {"digest", "type": "blob", "size", "chunks", "outboard_size", "groups"} or
           {"digest", "type": "directory", "size", "directories", "files", "symlinks"}
${DATA_DIR_HELP}
Exit status: 0 found, 1 not in the store, 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' } }, 'stat');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`stat: expected one DIGEST, got ${positionals.length}`);
    const digest = digestArg(positionals[0]);
    const data = await openStore(values);
    const found = await findOrFail(data, digest);
    const hex = formatDigest(digest);
    let info: Record<string, string | number>;
    if (found.type === 'blob') {
      const { size, chunks, outboard } = found.stat;
      info = { digest: hex, type: 'blob', size, chunks: chunks.length, outboard_size: outboard.length, groups: Math.max(1, Math.ceil(size / groupBytes(BLOB_GROUP_LOG))) };
    } else {
      const d = found.directory;
      info = { digest: hex, type: 'directory', size: Number('directory' in found.node ? found.node.directory.size : 0), directories: d.directories.length, files: d.files.length, symlinks: d.symlinks.length };
    }
    if (values['json']) io.out(`${JSON.stringify(info)}\n`);
    else io.out(Object.entries(info).map(([k, v]) => `${k.padEnd(14)}${v}\n`).join(''));
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
