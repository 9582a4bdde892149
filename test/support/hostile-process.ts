// Starts hostile-peer-main.ts as a process of its own for a test: one hostile node per
// mode over one data dir; resolves once every node listens.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { HostileMode } from './hostile-peer.js';

export const HOSTILE_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile-peer-main.js');
const STOP_GRACE_MS = 5000;

export interface HostileNode {
  readonly mode: HostileMode;
  readonly peerId: string;
  /** Its first listen address, /p2p/<peer id> at the end. */
  readonly address: string;
}

export interface HostileProcess {
  readonly child: ChildProcess;
  readonly nodes: ReadonlyMap<HostileMode, HostileNode>;
  node(mode: HostileMode): HostileNode;
  /** Requests each node was sent so far, per protocol. */
  requests(): Promise<Record<string, Record<string, number>>>;
  stderr(): string;
  stop(): Promise<void>;
}

export interface HostileOptions {
  /** Hex digest of the blob wrong-blob serves instead. */
  readonly decoy?: string;
}

/** Hostile nodes, one per mode in `modes`, serving `dataDir`. */
export async function startHostile(dataDir: string, modes: readonly HostileMode[], options: HostileOptions = {}): Promise<HostileProcess> {
  const args = [HOSTILE_MAIN, '--data-dir', dataDir, ...modes.flatMap((m) => ['--mode', m])];
  if (options.decoy !== undefined) args.push('--decoy', options.decoy);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const nodes = new Map<HostileMode, HostileNode>();
  await new Promise<void>((resolve, reject) => {
    const onLine = (line: string): void => {
      const n = JSON.parse(line) as { mode: HostileMode; peerId: string; addresses: string[] };
      nodes.set(n.mode, { mode: n.mode, peerId: n.peerId, address: n.addresses[0]! });
      if (nodes.size === new Set(modes).size) {
        lines.off('line', onLine);
        resolve();
      }
    };
    lines.on('line', onLine);
    child.once('exit', (code) => reject(new Error(`hostile-peer-main exited ${code}: ${err}`)));
  });
  return {
    child,
    nodes,
    node(mode) {
      const n = nodes.get(mode);
      if (n === undefined) throw new Error(`no hostile node in mode ${mode}`);
      return n;
    },
    requests() {
      const answer = new Promise<Record<string, Record<string, number>>>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l) as Record<string, Record<string, number>>)));
      child.stdin!.write('requests\n');
      return answer;
    },
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
