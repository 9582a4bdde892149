// The virtual network harness (netns.ts): two namespaces on a shaped link carry a TCP
// transfer intact, the qdiscs are where they should be, and nothing of the network is
// left once it is closed, also when its user throws or is killed by a signal.
// Needs root and iproute2; skipped, saying why, elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { delayMethod, namespacesUnavailable, VirtualNetwork } from './netns.js';
import { seededSha256 } from './tcp-transfer.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TRANSFER = path.join(HERE, 'tcp-transfer.js');
const CHILD = path.join(HERE, 'netns-child.js');
const BYTES = 4 << 20;

function ourNamespaces(prefix: string): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));
}

function rootLinks(): string[] {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter((n) => n !== '').sort();
}

const why = namespacesUnavailable();
const skip = why === undefined ? false : `needs network namespaces: ${why}`;

test('two namespaces on a shaped link: a TCP transfer arrives intact, the qdiscs are in place, close() leaves nothing', { skip }, async () => {
  const linksBefore = rootLinks();
  const delay = delayMethod();
  const withDelay = delay === 'netem' || delay === 'delay-line';
  const net = await VirtualNetwork.create([
    { name: 'a', upMbit: 200 },
    { name: 'b', downMbit: 100, ...(withDelay && { delayMs: 2, lossPct: 0.1 }) },
  ]);
  try {
    assert.equal(ourNamespaces(net.prefix).length, 3, 'a bridge namespace and one per node');
    const a = await net.qdiscs('a');
    assert.match(a.node, /tbf 1: root .*rate 200Mbit/u);
    const b = await net.qdiscs('b');
    assert.match(b.bridge, /tbf 1: root .*rate 100Mbit/u);
    if (delay === 'netem') assert.match(b.bridge, /netem .*delay 2ms loss 0.1%/u);
    if (delay === 'delay-line') {
      const rules = await net.exec('b', 'iptables', ['-t', 'mangle', '-S', 'PREROUTING']);
      assert.match(rules.stdout, /-i eth0 -j NFQUEUE --queue-num 0/u);
    }
    // Nothing of ours reaches the caller's namespace.
    assert.deepEqual(rootLinks(), linksBefore);

    const server = net.spawn('a', process.execPath, [TRANSFER, 'serve', net.node('a').address, '0', `random:${BYTES}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const first = await new Promise<string>((resolve) => createInterface({ input: server.stdout! }).once('line', resolve));
    const port = (JSON.parse(first) as { listening: number }).listening;
    const r = await net.exec('b', process.execPath, [TRANSFER, 'receive', net.node('a').address, String(port), 'hash']);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { bytes: number; sha256: string };
    assert.equal(got.bytes, BYTES);
    assert.equal(got.sha256, seededSha256(BYTES));
    const bytes = await net.linkBytes('b');
    assert.ok(bytes.rx >= BYTES, `b received ${bytes.rx} bytes on its link`);
    server.stdin!.end();
  } finally {
    await net.close();
  }
  assert.deepEqual(ourNamespaces(net.prefix), []);
  assert.deepEqual(rootLinks(), linksBefore);
});

for (const how of ['throw', 'SIGTERM', 'SIGINT'] as const) {
  test(`a harness user that ends by ${how === 'throw' ? 'an uncaught error' : how} leaves no namespace behind`, { skip }, async () => {
    const child = spawn(process.execPath, [CHILD, how], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const line = await new Promise<string | undefined>((resolve) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => resolve(undefined));
    });
    assert.ok(line !== undefined, `the child made no network: ${stderr}`);
    const { prefix } = JSON.parse(line) as { prefix: string };
    assert.equal(ourNamespaces(prefix).length, 3);
    if (how !== 'throw') child.kill(how);
    await exited;
    assert.deepEqual(ourNamespaces(prefix), [], stderr);
  });
}
