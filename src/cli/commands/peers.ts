// castor peers: the peers the running daemon is connected to.

import { resolveDataDir } from '../../store/index.js';
import { HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { daemonJson } from '../daemon-client.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../store-options.js';

const HELP = `Usage: castor peers [--json] [--data-dir DIR]

Lists the peers the data dir's daemon is connected to, one line each: PEER_ID, then the
addresses of its connections. Needs a running daemon (castor daemon).
  --json   {"peers": [{"peer_id", "addresses"}]}
${DATA_DIR_HELP}
Exit status: 0 listed (none is not an error), 1 no daemon runs, 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' } }, 'peers');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`peers: unexpected argument ${JSON.stringify(positionals[0])}`);
    const dataDir = resolveDataDir(typeof values['data-dir'] === 'string' ? values['data-dir'] : undefined);
    const answer = (await daemonJson(dataDir, 'GET', '/v1/peers', 'castor peers lists the connections of a running daemon')) as { peers: { peer_id: string; addresses: string[] }[] };
    if (values['json']) io.out(`${JSON.stringify({ peers: answer.peers })}\n`);
    else io.out(answer.peers.map((p) => `${p.peer_id}  ${p.addresses.join(' ')}\n`).join(''));
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
