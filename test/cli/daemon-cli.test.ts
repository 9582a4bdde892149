// castor daemon with the CLI around it, as real processes on loopback: start, id, peers,
// add through the daemon, share -> ticket -> fetch TICKET on a second daemon, a stale
// claim from a killed daemon, a second daemon refused, SIGTERM shutdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { castor } from './run-cli.js';
import { decodeTicket } from '../../src/node/ticket.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'castor-daemon-test-'));
// mDNS off: it multicasts on every interface, and these daemons run outside any namespace.
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'];

interface Daemon {
  readonly proc: ChildProcess;
  readonly pid: number;
  log(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
  exited: Promise<number | null>;
}

const started: Daemon[] = [];
test.after(() => {
  for (const d of started) if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function daemon(dataDir: string, args: string[] = LOOPBACK, env: Record<string, string> = {}): Daemon {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    log += s;
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(log)) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const d: Daemon = {
    proc,
    pid: proc.pid!,
    log: () => log,
    exited,
    waitFor: (pattern, ms = 20_000) => new Promise<void>((resolve, reject) => {
      if (pattern.test(log)) return resolve();
      const timer = setTimeout(() => reject(new Error(`daemon log never matched ${pattern}:\n${log}`)), ms);
      waiters.push({ pattern, resolve: () => { clearTimeout(timer); resolve(); } });
      void exited.then((code) => { clearTimeout(timer); if (!pattern.test(log)) reject(new Error(`daemon exited (${code}) before ${pattern}:\n${log}`)); });
    }),
  };
  started.push(d);
  return d;
}

function ok(args: string[], cwd?: string, env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `castor ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function tree(root: string): void {
  mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
  writeFileSync(path.join(root, 'a.txt'), 'hello\n');
  writeFileSync(path.join(root, 'sub', 'b.bin'), Buffer.alloc(300_000, 7));
  writeFileSync(path.join(root, 'sub', 'deeper', 'c'), 'c');
}

const src = path.join(dir, 'src');
tree(src);

test('without a daemon: id from the identity file, peers and share refuse clearly, add works directly', () => {
  const data = path.join(dir, 'none');
  const id = JSON.parse(ok(['id', '--json', '--data-dir', data])) as { peer_id: string; running: boolean; listen: string[] };
  assert.match(id.peer_id, /^12D3KooW/);
  assert.equal(id.running, false);
  assert.equal(JSON.parse(ok(['id', '--json', '--data-dir', data])).peer_id, id.peer_id, 'the identity persists');
  for (const args of [['peers'], ['share', src]]) {
    const r = castor([...args, '--data-dir', data]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^castor: no castor daemon runs on .*start one with: castor daemon/);
  }
  assert.match(ok(['add', src, '--data-dir', data]), /^[0-9a-f]{64} {2}/);
});

test('daemon: id, add and share through it, fetch TICKET on a second daemon, peers both ways, SIGTERM', async () => {
  const dataA = path.join(dir, 'a');
  const dataB = path.join(dir, 'b');
  const a = daemon(dataA);
  const b = daemon(dataB);
  await Promise.all([a.waitFor(/started: peer id/), b.waitFor(/started: peer id/)]);
  assert.match(a.log(), /listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);

  const id = JSON.parse(ok(['id', '--json', '--data-dir', dataA])) as { peer_id: string; running: boolean; pid: number; addresses: string[] };
  assert.deepEqual([id.running, id.pid], [true, a.pid]);
  assert.ok(id.addresses.length > 0 && id.addresses.every((x) => x.endsWith(`/p2p/${id.peer_id}`)), id.addresses.join());
  assert.match(ok(['id', '--data-dir', dataA]), new RegExp(`^peer id {3}${id.peer_id}\ndaemon {4}running, pid ${a.pid}\n`));

  // add through the daemon prints what the direct path prints, relative paths as given.
  const direct = ok(['add', 'src', '--json', '--data-dir', 'direct'], dir, { CASTOR_NO_DAEMON: '1' });
  assert.equal(ok(['add', 'src', '--json', '--data-dir', 'a'], dir), direct);
  const digestLine = `${(JSON.parse(direct) as { digest: string }).digest}  src\n`;
  assert.equal(ok(['add', 'src', '--data-dir', 'a'], dir), digestLine);
  await a.waitFor(/ add .*src: exit 0/);
  const bad = castor(['add', path.join(dir, 'missing'), '--data-dir', dataA]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^castor: .*missing/);

  const shared = JSON.parse(ok(['share', src, '--json', '--data-dir', dataA])) as { digest: string; type: string; ticket: string };
  const ticket = decodeTicket(shared.ticket);
  assert.equal(ticket.peerId, id.peer_id);
  assert.equal(Buffer.from(ticket.digest).toString('hex'), shared.digest);
  assert.equal(ticket.type, 'directory');

  const out = path.join(dir, 'fetched');
  ok(['fetch', shared.ticket, out, '--data-dir', dataB]);
  await b.waitFor(/ fetch castor1\S+ \S+: exit 0/);
  for (const rel of ['a.txt', 'sub/b.bin', 'sub/deeper/c']) assert.deepEqual(readFileSync(path.join(out, rel)), readFileSync(path.join(src, rel)), rel);

  const peersB = JSON.parse(ok(['peers', '--json', '--data-dir', dataB])) as { peers: { peer_id: string }[] };
  assert.ok(peersB.peers.some((p) => p.peer_id === id.peer_id));
  assert.match(ok(['peers', '--data-dir', dataA]), /^12D3KooW\S+ {2}\/ip4\/127\.0\.0\.1\//m);
  await a.waitFor(/peer connected: 12D3KooW/);

  a.proc.kill('SIGTERM');
  b.proc.kill('SIGINT');
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
  assert.match(a.log(), /stopping \(SIGTERM\)\n.*stopped\n$/);
  assert.match(b.log(), /stopping \(SIGINT\)/);
  for (const f of ['daemon.json', 'daemon.sock']) assert.ok(!existsSync(path.join(dataA, f)), f);
  // With the daemon gone, commands work on the store directly again.
  assert.equal(ok(['add', 'src', '--data-dir', 'a'], dir), digestLine);
});

test('a second daemon on the same data dir is refused; a killed one leaves a claim the next replaces', async () => {
  const data = path.join(dir, 'c');
  const first = daemon(data);
  await first.waitFor(/started: peer id/);
  const second = castor(['daemon', '--data-dir', data, ...LOOPBACK]);
  assert.equal(second.status, 1);
  assert.match(second.stderr, new RegExp(`^castor: a castor daemon \\(pid ${first.pid}\\) already runs on ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));

  first.proc.kill('SIGKILL');
  await first.exited;
  assert.ok(existsSync(path.join(data, 'daemon.sock')) && existsSync(path.join(data, 'daemon.json')));
  // The stale socket is not a daemon: commands work directly.
  assert.match(ok(['add', src, '--data-dir', data]), /^[0-9a-f]{64} {2}/);
  assert.equal(JSON.parse(ok(['id', '--json', '--data-dir', data])).running, false);

  const next = daemon(data);
  await next.waitFor(/started: peer id/);
  assert.match(next.log(), new RegExp(`removed the stale claim of pid ${first.pid}`));
  assert.match(next.log(), /replaced a stale socket/);
  assert.equal(JSON.parse(ok(['id', '--json', '--data-dir', data])).pid, next.pid);
  next.proc.kill('SIGTERM');
  assert.equal(await next.exited, 0);
});

test('control over 127.0.0.1 with a token where a socket will not do; wrong tokens refused', async () => {
  const data = path.join(dir, 't');
  const d = daemon(data, LOOPBACK, { CASTOR_DAEMON_TCP: '1' });
  await d.waitFor(/started: peer id/);
  assert.match(d.log(), /control http:\/\/127\.0\.0\.1:\d+ \(token in daemon\.json\)/);
  const state = JSON.parse(readFileSync(path.join(data, 'daemon.json'), 'utf8')) as { endpoint: { port: number; token: string } };
  assert.ok(!existsSync(path.join(data, 'daemon.sock')));
  assert.equal(JSON.parse(ok(['id', '--json', '--data-dir', data])).pid, d.pid);
  const res = await fetch(`http://127.0.0.1:${state.endpoint.port}/v1/id`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(res.status, 401);
  d.proc.kill('SIGTERM');
  assert.equal(await d.exited, 0);
});

test('listen and bootstrap from config.json (beside trustedKeys); a --listen flag replaces the file\'s list', async () => {
  const dataA = path.join(dir, 'cfg-a');
  const dataB = path.join(dir, 'cfg-b');
  mkdirSync(dataA, { recursive: true });
  writeFileSync(path.join(dataA, 'config.json'), JSON.stringify({ trustedKeys: [], listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }));
  const a = daemon(dataA, []);
  await a.waitFor(/started: peer id/);
  assert.match(a.log(), /discovery: mDNS off, DHT on \(\/castor\/kad\/1\.0\.0\)/);
  const idA = JSON.parse(ok(['id', '--json', '--data-dir', dataA])) as { peer_id: string; addresses: string[] };
  assert.ok(idA.addresses.every((x) => x.startsWith('/ip4/127.0.0.1/tcp/')), idA.addresses.join());
  mkdirSync(dataB, { recursive: true });
  writeFileSync(path.join(dataB, 'config.json'), JSON.stringify({ listen: ['/ip4/0.0.0.0/tcp/0'], bootstrap: [idA.addresses[0]] }));
  const offline = JSON.parse(ok(['id', '--json', '--data-dir', dataB])) as { running: boolean; listen: string[] };
  assert.deepEqual([offline.running, offline.listen], [false, ['/ip4/0.0.0.0/tcp/0']]);
  const b = daemon(dataB);
  await b.waitFor(/started: peer id/);
  assert.match(b.log(), /bootstrap peers: \/ip4\/127\.0\.0\.1\//);
  const idB = JSON.parse(ok(['id', '--json', '--data-dir', dataB])) as { addresses: string[] };
  assert.ok(idB.addresses.every((x) => x.startsWith('/ip4/127.0.0.1/')), `--listen replaced the config list: ${idB.addresses.join()}`);
  const peers = JSON.parse(ok(['peers', '--json', '--data-dir', dataB])) as { peers: { peer_id: string }[] };
  assert.deepEqual(peers.peers.map((p) => p.peer_id), [idA.peer_id]);
  a.proc.kill('SIGTERM');
  b.proc.kill('SIGTERM');
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
});

test('bad daemon flags and config are refused before anything starts', () => {
  const data = path.join(dir, 'flags');
  const r = castor(['daemon', '--data-dir', data, '--bootstrap', '/ip4/127.0.0.1/tcp/1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bootstrap address .* must end with \/p2p\/<peer id>/);
  mkdirSync(data, { recursive: true });
  writeFileSync(path.join(data, 'config.json'), JSON.stringify({ trustedKeys: [], listen: ['not an address'] }));
  const c = castor(['daemon', '--data-dir', data]);
  assert.equal(c.status, 1);
  assert.match(c.stderr, /config\.json: listen address "not an address"/);
  assert.ok(!existsSync(path.join(data, 'daemon.json')));
  writeFileSync(path.join(data, 'config.json'), JSON.stringify({ mdns: 'yes' }));
  const m = castor(['daemon', '--data-dir', data]);
  assert.equal(m.status, 1);
  assert.match(m.stderr, /config\.json: "mdns" must be true or false/);
  assert.ok(!existsSync(path.join(data, 'daemon.json')));
});

test('fetch KEY/NAME: resolved through a trusted signed root; an untrusted key and a rolled-back root refused', async () => {
  const keys = path.join(dir, 'keys');
  mkdirSync(keys);
  ok(['key', 'generate', 'pub-1', '--out', keys]);
  const secret = path.join(keys, 'pub-1.secret');
  const pub = path.join(keys, 'pub-1.public');
  const dataA = path.join(dir, 'pa');
  const dataC = path.join(dir, 'pc');
  const dataB = path.join(dir, 'pb');
  const a = daemon(dataA);
  await a.waitFor(/started: peer id/);
  const first = ok(['add', src, '--data-dir', dataA]).split(' ')[0]!;
  ok(['publish', '--key', secret, `tree=${first}`, '--data-dir', dataA]);
  // C keeps only the first root (sequence 1) and serves it.
  const bundle = path.join(dir, 'root-1.bundle');
  ok(['root', 'export', 'pub-1', bundle, '--data-dir', dataA]);
  ok(['root', 'import', bundle, '--trusted-key', pub, '--data-dir', dataC]);
  const c = daemon(dataC);
  await c.waitFor(/started: peer id/);
  // A moves on to sequence 2, naming another tree.
  const second = ok(['add', path.join(src, 'sub'), '--data-dir', dataA]).split(' ')[0]!;
  ok(['publish', '--key', secret, `tree=${second}`, '--data-dir', dataA]);
  const addrA = (JSON.parse(ok(['id', '--json', '--data-dir', dataA])) as { addresses: string[] }).addresses[0]!;
  const addrC = (JSON.parse(ok(['id', '--json', '--data-dir', dataC])) as { addresses: string[] }).addresses[0]!;

  // B has no daemon: the fetch runs in-process against --peer.
  const untrusted = castor(['fetch', 'pub-1/tree', '--peer', addrA, '--data-dir', dataB]);
  assert.equal(untrusted.status, 1);
  assert.match(untrusted.stderr, /^castor: "pub-1" is not a trusted key/);

  const out = path.join(dir, 'by-name');
  const got = JSON.parse(ok(['fetch', 'pub-1/tree', out, '--peer', addrA, '--trusted-key', pub, '--json', '--data-dir', dataB])) as { digest: string; type: string };
  assert.deepEqual([got.digest, got.type], [second, 'directory']);
  assert.deepEqual(readFileSync(path.join(out, 'b.bin')), readFileSync(path.join(src, 'sub', 'b.bin')));
  assert.match(ok(['root', 'show', 'pub-1', '--json', '--data-dir', dataB]), /"sequence":"2"/);

  const rolledBack = castor(['fetch', 'pub-1/tree', '--peer', addrC, '--trusted-key', pub, '--data-dir', dataB]);
  assert.equal(rolledBack.status, 1);
  assert.match(rolledBack.stderr, /^castor: root sequence 1 is below 2, the last accepted for pub-1:.*rollback refused/);
  const missing = castor(['fetch', 'pub-1/nope', '--peer', addrA, '--trusted-key', pub, '--data-dir', dataB]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no entry "nope" in the index of pub-1/);
  a.proc.kill('SIGTERM');
  c.proc.kill('SIGTERM');
  assert.deepEqual(await Promise.all([a.exited, c.exited]), [0, 0]);
});
