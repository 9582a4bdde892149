// Discovery through the CLI, as real processes on loopback (mDNS off): three daemons in a
// line A - B - C (A and C bootstrapped to B only). A adds and publishes through its
// daemon; C fetches the digest with no --peer through its daemon; a data dir with no
// daemon, whose config.json names only B as a bootstrap peer, fetches the digest and
// KEY/NAME through the DHT. With nothing to ask, fetch says so (exit 2).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, removeDir, tempDir } from './node-fixture.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'];

interface Daemon {
  readonly proc: ChildProcess;
  readonly exited: Promise<unknown>;
  log(): string;
}

function castor(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = castor(args);
  assert.equal(r.status, 0, `castor ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function daemon(dataDir: string, args: string[]): Promise<Daemon> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, ...LOOPBACK, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => { log += s; });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const deadline = Date.now() + 20_000;
  while (!/started: peer id/.test(log)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, exited, log: () => log };
}

/** Retries `args` until it succeeds or `ms` pass: an announcement runs in the daemon's background. */
async function eventually(args: string[], ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = castor(args);
    if (r.status === 0 || Date.now() > deadline) {
      assert.equal(r.status, 0, `castor ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

test('fetch DIGEST and KEY/NAME with no --peer: through a daemon, and through config.json bootstrap peers and the DHT', async () => {
  const root = await tempDir('discovery-cli');
  const daemons: Daemon[] = [];
  try {
    const [dataA, dataB, dataC, dataD] = ['a', 'b', 'c', 'd'].map((n) => path.join(root, n)) as [string, string, string, string];
    const b = await daemon(dataB, []);
    daemons.push(b);
    const addrB = (JSON.parse(ok(['id', '--json', '--data-dir', dataB])) as { addresses: string[] }).addresses[0]!;
    daemons.push(await daemon(dataA, ['--bootstrap', addrB]));
    daemons.push(await daemon(dataC, ['--bootstrap', addrB]));

    const file = path.join(root, 'payload.bin');
    const bytes = randomBytes(1_200_000);
    writeFileSync(file, bytes);
    const digest = ok(['add', file, '--data-dir', dataA]).split(/\s+/)[0]!;

    // Through C's daemon: C was told only of B, which does not hold the blob.
    const outC = path.join(root, 'out-c.bin');
    await eventually(['fetch', digest, outC, '--data-dir', dataC]);
    assert.deepEqual(readFileSync(outC), Buffer.from(bytes));

    // No daemon on D: its own node dials B (config.json) and asks the DHT.
    mkdirSync(dataD, { recursive: true });
    const keys = path.join(root, 'keys');
    mkdirSync(keys);
    ok(['key', 'generate', 'swarm-1', '--out', keys]);
    const pub = path.join(keys, 'swarm-1.public');
    writeFileSync(path.join(dataD, 'config.json'), JSON.stringify({ bootstrap: [addrB], trustedKeys: [readFileSync(pub, 'utf8').trim()] }));
    const outD = path.join(root, 'out-d.bin');
    const got = JSON.parse(ok(['fetch', digest, outD, '--json', '--data-dir', dataD])) as { fetched_bytes: number };
    assert.ok(got.fetched_bytes >= bytes.length, 'the bytes came over the network');
    assert.deepEqual(readFileSync(outD), Buffer.from(bytes));

    // KEY/NAME: A publishes through its daemon (which announces the key's root).
    const second = path.join(root, 'second.bin');
    const secondBytes = randomBytes(70_000);
    writeFileSync(second, secondBytes);
    const digest2 = ok(['add', second, '--data-dir', dataA]).split(/\s+/)[0]!;
    ok(['publish', '--key', path.join(keys, 'swarm-1.secret'), `payload=${digest2}`, '--data-dir', dataA]);
    const outName = path.join(root, 'out-name.bin');
    await eventually(['fetch', 'swarm-1/payload', outName, '--data-dir', dataD]);
    assert.deepEqual(readFileSync(outName), Buffer.from(secondBytes));

    // What nobody holds: exit 1, saying where it looked.
    const missing = castor(['fetch', 'ab'.repeat(32), '--data-dir', dataC]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no peer provides .*: asked \d+ connected peers? and the DHT/);
    // Nothing to ask: no daemon, no --peer, no bootstrap peers.
    const lonely = castor(['fetch', digest, '--data-dir', path.join(root, 'e')]);
    assert.equal(lonely.status, 2);
    assert.match(lonely.stderr, /nothing to ask/);
  } finally {
    for (const d of daemons) d.proc.kill('SIGTERM');
    await Promise.all(daemons.map((d) => d.exited));
    await removeDir(root);
  }
});
