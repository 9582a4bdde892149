// castor id: this data dir's peer id and addresses.

import { mkdir } from 'node:fs/promises';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { resolveDataDir } from '../../store/index.js';
import { FsLayout } from '../../store/index.js';
import { fsError } from '../../store/index.js';
import { readNetworkConfig } from '../../node/index.js';
import { loadOrCreateIdentity } from '../../node/index.js';
import { HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { daemonJsonIfRunning } from '../daemon-client.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../store-options.js';

const HELP = `Usage: castor id [--json] [--data-dir DIR]

Prints the peer id of this data dir's node (from identity.key, made on first use) and
its addresses: while a daemon runs, the full addresses it can be dialled on
(/.../p2p/<peer id>); otherwise the listen and announce addresses it would use
(config.json "listen" and "announce", or the default).
  --json   {"peer_id", "running": true, "pid", "addresses", "http" (the Nix binary cache's
           URL, when the daemon serves one)} or
           {"peer_id", "running": false, "addresses": [], "listen", "announce"}
${DATA_DIR_HELP}
Exit status: 0 printed, 1 an unreadable identity or config, 2 bad usage.
`;

/** Where a node listens when config.json says nothing (src/node/host.ts DEFAULT_LISTEN). */
const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001'];

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, json: { type: 'boolean' } }, 'id');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`id: unexpected argument ${JSON.stringify(positionals[0])}`);
    const dataDir = resolveDataDir(typeof values['data-dir'] === 'string' ? values['data-dir'] : undefined);
    const live = (await daemonJsonIfRunning(dataDir, 'GET', '/v1/id')) as { peer_id: string; addresses: string[]; pid: number; http?: string } | undefined;
    let info: Record<string, unknown>;
    if (live !== undefined) {
      info = { peer_id: live.peer_id, running: true, pid: live.pid, addresses: live.addresses, ...(live.http !== undefined && { http: live.http }) };
    } else {
      try {
        await mkdir(dataDir, { recursive: true });
      } catch (err: unknown) {
        throw fsError(err, dataDir, 'creating');
      }
      const peerId = peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir)).toString();
      const config = await readNetworkConfig(new FsLayout(dataDir).config);
      info = { peer_id: peerId, running: false, addresses: [], listen: config.listen ?? DEFAULT_LISTEN, announce: config.announce ?? [] };
    }
    if (values['json']) {
      io.out(`${JSON.stringify(info)}\n`);
      return 0;
    }
    const lines = [`peer id   ${String(info['peer_id'])}`];
    if (live !== undefined) {
      lines.push(`daemon    running, pid ${live.pid}`);
      for (const a of live.addresses) lines.push(`address   ${a}`);
      if (live.http !== undefined) lines.push(`http      ${live.http} (Nix binary cache)`);
    } else {
      lines.push('daemon    not running (castor daemon starts it)');
      for (const a of info['listen'] as string[]) lines.push(`listen    ${a}`);
      for (const a of info['announce'] as string[]) lines.push(`announce  ${a}`);
    }
    io.out(`${lines.join('\n')}\n`);
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
