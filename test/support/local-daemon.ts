// `castor daemon` on 127.0.0.1 (a free port, mDNS off) as a process of its own, for tests
// that need the real serving or fetching daemon; resolves once it says it started.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CASTOR_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const STOP_GRACE_MS = 10_000;

export interface LocalDaemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly peerId: string;
  /** Its 127.0.0.1 listen address, /p2p/<peer id> included. */
  readonly address: string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

export async function startLocalDaemon(dataDir: string): Promise<LocalDaemon> {
  const child = spawn(process.execPath, [CASTOR_CLI, 'daemon', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stderr! });
  const { address, peerId } = await new Promise<{ address: string; peerId: string }>((resolve, reject) => {
    let address: string | undefined;
    lines.on('line', (l) => {
      err += `${l}\n`;
      const m = / listening on (\/ip4\/127\.0\.0\.1\/\S+)/u.exec(l);
      if (m !== null) address ??= m[1]!;
      const s = / started: peer id (\S+),/u.exec(l);
      if (s !== null && address !== undefined) resolve({ address, peerId: s[1]! });
    });
    child.once('exit', (code) => reject(new Error(`castor daemon exited ${code}: ${err}`)));
  });
  return {
    child,
    pid: child.pid!,
    peerId,
    address,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
