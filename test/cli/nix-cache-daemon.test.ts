// castor daemon --http as a real process, with real Nix 2.8 (each run in its own env,
// test/support/nix-env.ts): nix copy --to pushes the test closure; castor id --json names
// the cache; a client that trusts only the node's own Nix key (--nix-secret-key)
// substitutes it with nix copy --from and, after the daemon restarted on the same data
// dir, with nix-store --realise; narHash and dump-path bytes as in the source store.
// Skipped without nix.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNixEnv, skipWithoutNix, type NixEnv } from '../support/nix-env.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-dht'];

interface Daemon { proc: ChildProcess; url: string; log(): string; stop(): Promise<void> }

const running: Daemon[] = [];

/** Starts `castor daemon --http 127.0.0.1:0 ...`; resolves with the cache URL it logs. */
async function startDaemon(dataDir: string, args: string[]): Promise<Daemon> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, ...LOOPBACK, '--http', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const m = /nix binary cache: (http:\/\/\S+)/u.exec(log);
      if (m !== null && / started: peer id /u.test(log)) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`castor daemon exited before it started:\n${log}`)));
  });
  const d: Daemon = {
    proc, url, log: () => log,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
  running.push(d);
  return d;
}

describe('castor daemon --http with real nix', { skip: skipWithoutNix }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'castor-nix-daemon-'));
  let nixEnv: NixEnv | undefined;
  after(async () => {
    for (const d of running) await d.stop();
    await nixEnv?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes nix copy --to, reports its URL, and serves the closure signed by its own key, across a restart', async () => {
    nixEnv = await makeNixEnv();
    const env = nixEnv;
    const closure = await env.makeClosure();
    const nodeKey = path.join(dir, 'node.secret');
    writeFileSync(nodeKey, await env.ok('nix', ['key', 'generate-secret', '--key-name', 'castor-node-1']));
    const nodePublic = (await env.ok('sh', ['-c', 'nix key convert-secret-to-public < "$0"', nodeKey])).trim();
    const dataDir = path.join(dir, 'data');
    const args = ['--trusted-nix-key', env.publicKeyFile, '--nix-secret-key', nodeKey];
    let d = await startDaemon(dataDir, args);
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+$/u);
    const id = spawnSync(process.execPath, [CLI, 'id', '--json', '--data-dir', dataDir]);
    assert.equal(id.status, 0, id.stderr.toString());
    assert.equal((JSON.parse(id.stdout.toString()) as { http?: string }).http, d.url, 'castor id --json reports the cache URL');

    await env.ok('nix', ['copy', '--store', env.store, '--to', d.url, closure.built, closure.text]);
    assert.match(d.log(), /nix cache: added \/nix\/store\/\S+-built/u);

    const want = await pathsOf(env, env.store, closure.all);
    const client = await env.fresh();
    try {
      const trust = ['--option', 'trusted-public-keys', nodePublic];
      const copied = path.join(client.dir, 'stores', 'copied');
      await client.ok('nix', ['copy', '--from', d.url, '--to', copied, ...trust, closure.built, closure.text]);
      assert.deepEqual(await pathsOf(client, copied, closure.all), want);

      await d.stop();
      d = await startDaemon(dataDir, args);
      await client.ok('nix-store', ['--store', client.store, '--option', 'substituters', d.url, ...trust, '--realise', closure.built, closure.text]);
      assert.deepEqual(await pathsOf(client, client.store, closure.all), want);
    } finally {
      await client.cleanup();
    }
  });
});

async function pathsOf(env: NixEnv, store: string, paths: readonly string[]): Promise<unknown[]> {
  const infos = await env.pathInfo(paths, store);
  const out: unknown[] = [];
  for (const info of infos) {
    const nar = await env.dumpPath(info.path, store);
    out.push({ path: info.path, narHash: info.narHash, narSize: info.narSize, references: info.references, nar: createHash('sha256').update(nar).digest('hex') });
  }
  return out;
}
