// Substitution from peers with real Nix 2.8 (isolated, test/support/nix-env.ts): daemon A
// takes the test closure by `nix copy --to`; daemon B, given A only as a bootstrap peer and
// no upstream, answers a fresh `nix-store --realise` that has only B as substituter: B
// asked A for each PathInfo over /castor/path-info/1, checked its signature, fetched the
// tree verified and checked the rendered NAR against the narHash before serving it. Nix
// checks signatures and NarHash again; narHash and NAR bytes equal the source store's.
// Skipped without nix.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNixEnv, skipWithoutNix, type NixEnv } from '../support/nix-env.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface Daemon { url: string; address: string; log(): string; stop(): Promise<void> }

async function startDaemon(dataDir: string, args: string[]): Promise<Daemon> {
  const proc: ChildProcess = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--http', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const [url, address] = await new Promise<[string, string]>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const m = /nix binary cache: (http:\/\/\S+)/u.exec(log);
      const a = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/u.exec(log);
      if (m !== null && a !== null && / started: peer id /u.test(log)) resolve([m[1]!, a[1]!]);
    });
    void exited.then(() => reject(new Error(`castor daemon exited before it started:\n${log}`)));
  });
  return {
    url, address, log: () => log,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('nix substitutes through castor daemon B from peer A', { skip: skipWithoutNix }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'castor-nix-peers-'));
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('realises a closure pushed into A, with only B as substituter and no upstream; narHash and NAR identical', async () => {
    const env: NixEnv = await makeNixEnv();
    cleanups.push(() => env.cleanup());
    const closure = await env.makeClosure();
    const trusted = ['--trusted-nix-key', env.publicKey];
    const a = await startDaemon(path.join(dir, 'a'), trusted);
    cleanups.push(() => a.stop());
    await env.ok('nix', ['copy', '--store', env.store, '--to', a.url, closure.built, closure.text]);
    const b = await startDaemon(path.join(dir, 'b'), [...trusted, '--bootstrap', a.address]);
    cleanups.push(() => b.stop());

    const client = await env.fresh();
    cleanups.push(() => client.cleanup());
    const realise = await client.run('nix-store', ['--store', client.store, '--option', 'substituters', b.url, '--option', 'trusted-public-keys', env.publicKey,
      '--realise', closure.built, closure.text]);
    assert.equal(realise.code, 0, `${realise.stderr}\n--- B's log:\n${b.log()}`);
    const want = await env.pathInfo(closure.all);
    const got = await client.pathInfo(closure.all, client.store);
    assert.deepEqual(got.map((i) => [i.path, i.narHash, i.narSize, i.references]), want.map((i) => [i.path, i.narHash, i.narSize, i.references]));
    for (const p of closure.all) {
      const sha = async (e: NixEnv, store: string): Promise<string> => createHash('sha256').update(await e.dumpPath(p, store)).digest('hex');
      assert.equal(await sha(client, client.store), await sha(env, env.store), `${p}: the same NAR`);
      assert.match(b.log(), new RegExp(`nix cache: substituted ${p} \\(\\d+ bytes of NAR\\) from peer `, 'u'));
    }
  });
});
