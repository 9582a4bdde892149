// castor share PATH...: store paths as add does and print a ticket for each, naming the
// running daemon as the peer to fetch from.

import { addPin } from '../../store/index.js';
import { ingestPath } from '../../store/index.js';
import { formatDigest } from '../../store/index.js';
import { NoDaemonError } from '../../node/index.js';
import { encodeTicket } from '../../node/index.js';
import { HELP_OPTION, intArg, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { daemonContext, dataDirOf, runViaDaemon } from '../daemon-client.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, openStore } from '../store-options.js';

const HELP = `Usage: castor share PATH... [--json] [--jobs N] [--data-dir DIR]

Stores each PATH as castor add does (pinned), then prints a ticket for it: one
pasteable string ("castor1...") holding the daemon's peer id, its addresses and the root
digest, for 'castor fetch TICKET' elsewhere. A ticket names a node that must be
reachable, so share needs a running daemon on the data dir (castor daemon); without
one it stores nothing and says so. One line per PATH: 'TICKET  PATH'.
  --json      one JSON object per PATH: {"path", "digest", "type", "ticket"}
  --jobs N    files stored at once (default 8)
${DATA_DIR_HELP}
Exit status: 0 all shared, 1 no daemon, or a path could not be stored, 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const viaDaemon = await runViaDaemon('share', argv, io).catch((err: unknown) => reportError(err, io));
  if (viaDaemon !== undefined) return viaDaemon;
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' }, jobs: { type: 'string' } }, 'share');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('share: missing PATH');
    const jobs = intArg(values['jobs'], '--jobs', 8, 1, 256);
    const ctx = daemonContext();
    if (ctx === undefined) throw new NoDaemonError(dataDirOf(argv), 'castor share prints tickets naming a running node');
    const data = await openStore(values, { create: true });
    let status = 0;
    for (const path of positionals) {
      try {
        const r = await ingestPath(path, { ...data, concurrency: jobs });
        const type = r.type === 'file' ? 'blob' : 'directory';
        await addPin(data.layout, { digest: r.digest, type, label: path });
        // Also findable by digest alone, through the DHT (in the background).
        void ctx.node.announce(r.digest);
        const ticket = encodeTicket({ peerId: ctx.node.peerId, addresses: ctx.node.addresses(), digest: r.digest, type });
        if (values['json']) io.out(`${JSON.stringify({ path, digest: formatDigest(r.digest), type, ticket })}\n`);
        else io.out(`${ticket}  ${path}\n`);
      } catch (err: unknown) {
        status = reportError(err, io);
      }
    }
    return status;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
