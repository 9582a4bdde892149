// Shared benchmark plumbing: test files, timed child processes, medians, tables.

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../src/cli/main.js');
export const PROBE = path.resolve(here, 'rss-probe.js');

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'castor-bench-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A file of random bytes (incompressible, so no layer below can shortcut it). */
export function makeFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1 << 20);
  for (let done = 0; done < bytes;) {
    randomFillSync(block);
    const len = Math.min(block.length, bytes - done);
    writeSync(fd, block, 0, len);
    done += len;
  }
  closeSync(fd);
}

export interface Run {
  seconds: number;
  maxRssKiB?: number;
  stdout: string;
}

/** Runs a command, returns wall time; fails loudly on a non-zero exit. */
export function timed(cmd: string, args: string[], options: SpawnSyncOptions = {}): Run {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { maxBuffer: 64 << 20, ...options, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const m = /CASTOR_MAXRSS_KIB (\d+)/.exec(String(r.stderr));
  return { seconds, maxRssKiB: m ? Number(m[1]) : undefined, stdout: String(r.stdout) };
}

/** The castor CLI under node with the RSS probe loaded. */
export function castor(args: string[], env: Record<string, string> = {}, options: SpawnSyncOptions = {}): Run {
  return timed(process.execPath, ['--import', PROBE, CLI, ...args], { ...options, env: { ...process.env, ...env } });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function repeat(times: number, f: () => Run): { seconds: number; maxRssKiB: number } {
  const runs = Array.from({ length: times }, f);
  return { seconds: median(runs.map((r) => r.seconds)), maxRssKiB: Math.max(...runs.map((r) => r.maxRssKiB ?? 0)) };
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export function mbps(bytes: number, seconds: number): string {
  return (bytes / seconds / 1e6).toFixed(0);
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
