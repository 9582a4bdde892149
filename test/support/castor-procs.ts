// Real castor processes on a virtual network (netns.ts): `castor daemon` on a node,
// and any castor command run there as a user would (a process of its own, start-up
// included), each with its CPU time and peak RSS (usage-probe.ts).

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild, type VirtualNetwork } from './netns.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(HERE, '../../src/cli/main.js');
export const USAGE_PROBE = path.join(HERE, 'usage-probe.js');
/** The port every daemon listens on: each node has an address of its own. */
export const DAEMON_PORT = 4001;
const START_TIMEOUT_MS = 60_000;
const CLK_TCK = 100;

export interface Usage {
  /** CPU time, all threads, user + system. */
  readonly cpuSeconds: number;
  readonly maxRssKiB: number;
}

/** The usage-probe line of a process's stderr. */
export function parseUsage(stderr: string): Usage | undefined {
  const m = /CASTOR_USAGE (\{.*\})/u.exec(stderr);
  return m === null ? undefined : JSON.parse(m[1]!) as Usage;
}

/** CPU time so far and peak RSS of a running process, from /proc. */
export function procUsage(pid: number): Usage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/u.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / CLK_TCK, maxRssKiB: hwm === null ? 0 : Number(hwm[1]) };
}

export interface Daemon {
  readonly node: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  readonly peerId: string;
  /** Its listen address on the bridge, /p2p/<peer id> included. */
  readonly address: string;
  stderr(): string;
  /** SIGTERM, and what it used over its life. */
  stop(): Promise<Usage | undefined>;
}

/** `castor daemon --data-dir DIR --listen /ip4/<node address>/tcp/4001 ...args` on `node`; resolves once it says it started. */
export async function startDaemon(net: VirtualNetwork, node: string, dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  const ip = net.node(node).address;
  const child = net.spawn(node, process.execPath, ['--import', USAGE_PROBE, CLI, 'daemon', '--data-dir', dataDir, '--listen', `/ip4/${ip}/tcp/${DAEMON_PORT}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  const addresses: string[] = [];
  const lines = createInterface({ input: child.stderr! });
  const started = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), START_TIMEOUT_MS);
    lines.on('line', (l) => {
      err += `${l}\n`;
      const listening = / listening on (\S+)/u.exec(l);
      if (listening !== null) addresses.push(listening[1]!);
      const m = / started: peer id (\S+),/u.exec(l);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', () => { clearTimeout(timer); resolve(undefined); });
  });
  if (started === undefined) {
    await stopChild(child);
    throw new Error(`castor daemon on ${node} did not start:\n${err}`);
  }
  const address = addresses.find((a) => a.includes(`/ip4/${ip}/`)) ?? `/ip4/${ip}/tcp/${DAEMON_PORT}/p2p/${started}`;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    node, dataDir, child, peerId: started, address,
    stderr: () => err,
    async stop() {
      await stopChild(child, 10_000);
      await exited;
      return parseUsage(err);
    },
  };
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the process, spawn to exit. */
  readonly seconds: number;
  readonly usage: Usage | undefined;
}

/** A castor command run on `node` as a process of its own (`nodeFlags` go to node itself). */
export async function castorOn(net: VirtualNetwork, node: string, args: string[], env: Record<string, string> = {}, nodeFlags: string[] = []): Promise<CliRun> {
  const t0 = performance.now();
  const r = await net.exec(node, process.execPath, [...nodeFlags, '--import', USAGE_PROBE, CLI, ...args], { env: { ...process.env, ...env } });
  const seconds = (performance.now() - t0) / 1000;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, seconds, usage: parseUsage(r.stderr) };
}

/** castorOn without waiting: the process, and its result once it ends. */
export function startCastorOn(net: VirtualNetwork, node: string, args: string[]): { child: ChildProcess; done: Promise<CliRun> } {
  const t0 = performance.now();
  const child = net.spawn(node, process.execPath, ['--import', USAGE_PROBE, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000, usage: parseUsage(stderr) }));
  });
  return { child, done };
}

/** The connected peers of the daemon on `dataDir`. */
export async function daemonPeers(net: VirtualNetwork, node: string, dataDir: string): Promise<string[]> {
  const r = await castorOn(net, node, ['peers', '--json', '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`castor peers on ${node}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { peers: { peer_id: string }[] }).peers.map((p) => p.peer_id);
}
