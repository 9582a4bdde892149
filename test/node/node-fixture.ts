// Shared pieces of the node tests: a serving node in its own process (serve-child.ts),
// data dirs in a temporary directory, blobs of random bytes.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Digest } from '../../src/store/digest.js';
import { openDataDir, type DataDir } from '../../src/store/disk/data-dir.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SERVE_CHILD = path.join(HERE, 'serve-child.js');

export interface ChildServed {
  readonly served: { total: number; byPeer: Record<string, number> };
  readonly rssKiB: number;
  readonly maxRssKiB: number;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly peerId: string;
  /** Full multiaddrs, /p2p/<peer id> at the end. */
  readonly addresses: string[];
  readonly address: string;
  /** What the child wrote on stderr so far. */
  stderr(): string;
  /** The blob bytes it served (total, per peer) and its RSS, peak RSS (KiB). */
  served(): Promise<ChildServed>;
  stop(): Promise<void>;
}

/** Starts a node serving `dataDir` in a child process on 127.0.0.1; `env` is added to its environment. */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVE_CHILD, dataDir, '/ip4/127.0.0.1/tcp/0'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`serve-child exited ${code}: ${err}`)));
  });
  const info = JSON.parse(first) as { peerId: string; addresses: string[] };
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    peerId: info.peerId,
    addresses: info.addresses,
    address: info.addresses[0]!,
    stderr: () => err,
    served() {
      const answer = new Promise<ChildServed>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l) as ChildServed)));
      child.stdin!.write('served\n');
      return answer;
    },
    async stop() {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `castor-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A fresh data dir (not fsyncing: these tests are about the network). */
export async function dataDir(parent: string, name: string): Promise<DataDir> {
  return openDataDir(path.join(parent, name), { create: true, durable: false });
}

/** Random bytes, filled quickly. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) randomFillSync(out, at, Math.min(65536, n - at));
  return out;
}

/** Stores `bytes` as a blob; resolves to its digest. */
export async function putBlob(data: DataDir, bytes: Uint8Array): Promise<Digest> {
  const w = data.blobs.openWriter();
  for (let at = 0; at < bytes.length; at += 1 << 20) await w.write(bytes.subarray(at, at + (1 << 20)));
  return w.close();
}

/** Every byte of blob `digest` in `data`, read back verified. */
export async function readBlob(data: DataDir, digest: Digest): Promise<Uint8Array> {
  const stream = await data.blobs.read(digest);
  if (stream === undefined) throw new Error('blob not in store');
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p.slice());
  return new Uint8Array(Buffer.concat(parts));
}

export interface Seeded {
  readonly root: string;
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  readonly seeder: ServerProcess;
}

/** A temp dir with one serving process (data dir `seed`) holding `size` random bytes as a blob. */
export async function startSeeder(name: string, size: number): Promise<Seeded> {
  const root = await tempDir(name);
  const bytes = randomBytes(size);
  const digest = await putBlob(await dataDir(root, 'seed'), bytes);
  return { root, bytes, digest, seeder: await startServer(path.join(root, 'seed')) };
}

/** Stops what startSeeder started and removes its dir. */
export async function stopSeeder(s: Seeded | undefined): Promise<void> {
  await s?.seeder.stop();
  if (s !== undefined) await removeDir(s.root);
}
