// castor daemon --nix-upstream with real Nix 2.8 (isolated, test/support/nix-env.ts): the
// test closure pushed with `nix copy --to file://` (xz) is served to the daemon through a
// counting HTTP server on 127.0.0.1; a fresh `nix-store --realise` with only the daemon
// as substituter gets the closure (the daemon imported it, checked, into castore); a
// second fresh client gets it too without one more request reaching the upstream.
// Skipped without nix.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNixEnv, skipWithoutNix, type NixEnv } from '../support/nix-env.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-dht'];

/** A static server of `dir` on 127.0.0.1 that counts the requests it gets. */
async function countingServer(dir: string): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const file = path.join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]!));
    if (!file.startsWith(dir + path.sep)) return void res.writeHead(400).end();
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

describe('castor daemon --nix-upstream with real nix', { skip: skipWithoutNix }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'castor-nix-upstream-'));
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a closure from the upstream on a narinfo request, serves it to nix, and serves it again without asking the upstream', async () => {
    const env: NixEnv = await makeNixEnv();
    cleanups.push(() => env.cleanup());
    const closure = await env.makeClosure();
    const cacheDir = path.join(dir, 'upstream');
    await env.ok('nix', ['copy', '--store', env.store, '--to', `file://${cacheDir}`, closure.built, closure.text]);
    const upstream = await countingServer(cacheDir);
    cleanups.push(() => upstream.close());

    const proc: ChildProcess = spawn(process.execPath, [CLI, 'daemon', '--data-dir', path.join(dir, 'data'), ...LOOPBACK, '--http', '127.0.0.1:0',
      '--trusted-nix-key', env.publicKey, '--nix-upstream', upstream.url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    });
    const url = await new Promise<string>((resolve, reject) => {
      proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
        log += s;
        const m = /nix binary cache: (http:\/\/\S+)/u.exec(log);
        if (m !== null && / started: peer id /u.test(log)) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`castor daemon exited before it started:\n${log}`)));
    });
    assert.match(log, new RegExp(`upstreams ${upstream.url}`, 'u'));

    const want = await env.pathInfo(closure.all);
    const realise = async (): Promise<void> => {
      const client = await env.fresh();
      try {
        await client.ok('nix-store', ['--store', client.store, '--option', 'substituters', url, '--option', 'trusted-public-keys', env.publicKey,
          '--realise', closure.built, closure.text]);
        const got = await client.pathInfo(closure.all, client.store);
        assert.deepEqual(got.map((i) => [i.path, i.narHash, i.narSize, i.references]), want.map((i) => [i.path, i.narHash, i.narSize, i.references]));
      } finally {
        await client.cleanup();
      }
    };
    await realise();
    assert.ok(upstream.requests.some((r) => /^GET \/nar\/\S+\.nar\.xz$/u.test(r)), `the NARs came from the upstream (xz): ${upstream.requests.join(', ')}`);
    for (const p of closure.all) assert.match(log, new RegExp(`nix cache: imported ${p} \\(\\d+ bytes of NAR\\) from `, 'u'));
    const before = upstream.requests.length;
    await realise();
    assert.equal(upstream.requests.length, before, `a held closure is served without the upstream: ${upstream.requests.slice(before).join(', ')}`);
  });
});
