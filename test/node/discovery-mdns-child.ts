// Runs inside a network namespace that discovery-mdns.test.ts made (its own loopback, with
// multicast on and a route for 224.0.0.0/4): two castor daemons with default settings (mDNS
// on) and no bootstrap peers, a file added on one, fetched by digest on the other through
// its daemon with no --peer. Prints one JSON line with what happened. With no arguments
// (as when `node --test` loads every file) it does nothing.
//
//   node discovery-mdns-child.js WORK_DIR

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface Daemon {
  readonly proc: ChildProcess;
  log(): string;
}

function castor(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function startDaemon(dataDir: string): Promise<Daemon> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => { log += s; });
  const deadline = Date.now() + 20_000;
  while (!/started: peer id/.test(log)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`daemon on ${dataDir} did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, log: () => log };
}

async function main(work: string): Promise<void> {
  const daemons: Daemon[] = [];
  const result: Record<string, unknown> = {};
  try {
    const a = await startDaemon(path.join(work, 'a'));
    daemons.push(a);
    const b = await startDaemon(path.join(work, 'b'));
    daemons.push(b);
    const idA = (JSON.parse(castor(['id', '--json', '--data-dir', path.join(work, 'a')]).stdout) as { peer_id: string }).peer_id;
    const file = path.join(work, 'payload.bin');
    const bytes = new Uint8Array(1_500_000);
    randomFillSync(bytes);
    writeFileSync(file, bytes);
    const added = castor(['add', file, '--data-dir', path.join(work, 'a')]);
    if (added.status !== 0) throw new Error(`add: ${added.stderr}`);
    const digest = added.stdout.split(/\s+/)[0]!;
    // No bootstrap, no --peer: B may only learn of A by mDNS.
    const started = Date.now();
    let found = false;
    while (!found && Date.now() - started < 30_000) {
      const peers = JSON.parse(castor(['peers', '--json', '--data-dir', path.join(work, 'b')]).stdout) as { peers: { peer_id: string }[] };
      found = peers.peers.some((p) => p.peer_id === idA);
      if (!found) await new Promise((r) => setTimeout(r, 200));
    }
    result['found'] = found;
    result['found_ms'] = Date.now() - started;
    if (found) {
      const out = path.join(work, 'out.bin');
      const fetched = castor(['fetch', digest, out, '--json', '--data-dir', path.join(work, 'b')]);
      result['fetch_status'] = fetched.status;
      result['fetch_stderr'] = fetched.stderr;
      result['same'] = fetched.status === 0 && Buffer.compare(readFileSync(out), Buffer.from(bytes)) === 0;
    }
  } catch (err: unknown) {
    result['error'] = err instanceof Error ? err.message : String(err);
  } finally {
    for (const d of daemons) d.proc.kill('SIGTERM');
    await Promise.all(daemons.map((d) => new Promise((r) => { if (d.proc.exitCode !== null) r(null); else d.proc.once('exit', r); })));
    result['logs'] = daemons.map((d) => d.log());
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const [work] = process.argv.slice(2);
if (work !== undefined) {
  main(work).catch((err: unknown) => {
    process.stderr.write(`discovery-mdns-child: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
