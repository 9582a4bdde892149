// castor add PATH...: store files and trees, print each root digest, pin it.

import { addPin } from '../../store/index.js';
import { ingestPath } from '../../store/index.js';
import { formatDigest } from '../../store/index.js';
import { HELP_OPTION, intArg, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { progressCounter } from '../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, openStore } from '../store-options.js';
import { daemonContext, runViaDaemon } from '../daemon-client.js';

const HELP = `Usage: castor add PATH... [--json] [--no-pin] [--jobs N] [--data-dir DIR]

Stores each PATH (a regular file, or a directory tree with its executable bits and
symlinks; symlinks are stored, not followed) and prints 'DIGEST  PATH' for each root.
Content is split with FastCDC and every chunk is kept once, so content already in the
store costs nothing. Each root is pinned, so 'castor gc' keeps it. Sockets, FIFOs and
devices are refused with an error naming the path.
  --json      one JSON object per PATH: {"path", "digest", "type", "size", "files", "bytes", "new_bytes"}
              (size: bytes of a file, or the castore entry count of a directory)
  --no-pin    do not pin the roots
  --jobs N    files stored at once (default 8)
${DATA_DIR_HELP}
Exit status: 0 all stored, 1 a path could not be stored (the others still are), 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const viaDaemon = await runViaDaemon('add', argv, io);
    if (viaDaemon !== undefined) return viaDaemon;
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' }, 'no-pin': { type: 'boolean' }, jobs: { type: 'string' } }, 'add');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('add: missing PATH');
    const jobs = intArg(values['jobs'], '--jobs', 8, 1, 256);
    // One syncfs for the whole add instead of fsyncs per file: see src/store/fs/sync-fs.ts.
    const data = await openStore(values, { create: true, durable: 'batch' });
    let status = 0;
    for (const path of positionals) {
      const bar = progressCounter(`add ${path}`);
      try {
        const r = await ingestPath(path, { ...data, concurrency: jobs, onProgress: (p) => bar.update(p.files, p.bytes) });
        bar.finish();
        if (!values['no-pin']) await addPin(data.layout, { digest: r.digest, type: r.type === 'file' ? 'blob' : 'directory', label: path }, false);
        // Durable before the digest is printed: a caller may act on it at once.
        await data.sync();
        // In the daemon: tell the DHT, in the background (a provide can take a while).
        void daemonContext()?.node.announce(r.digest);
        const digest = formatDigest(r.digest);
        if (values['json']) {
          io.out(`${JSON.stringify({ path, digest, type: r.type, size: Number(r.size), files: r.files, bytes: r.bytes, new_bytes: r.newBytes })}\n`);
        } else {
          io.out(`${digest}  ${path}\n`);
        }
      } catch (err: unknown) {
        bar.finish();
        status = reportError(err, io);
      }
    }
    return status;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
