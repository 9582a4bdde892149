// The reverse of the adversary table (issue 20): a hostile client against a serving
// `castor daemon`. Each attack is bounded in count and time; during or right after it an
// honest `castor fetch` (a process of its own) must get the blob whole and identical
// within FETCH_BOUND_MS, and the daemon's RSS, sampled all along from /proc, must stay
// under RSS_BOUND_MIB.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { BLOB_PROTOCOL, createHost, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, parseMultiaddr, send, STAT_PROTOCOL, type Host } from '../../src/node/index.js';
import { BlobRequest } from '../../src/node/protocols/exchange-pb.js';
import { framed } from '../../src/node/stream-io.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { CASTOR_CLI, startLocalDaemon, type LocalDaemon } from '../support/local-daemon.js';
import { dataDir, putBlob, randomBytes, removeDir, tempDir } from './node-fixture.js';

const FETCH_BOUND_MS = 90_000;
/** The daemon's RSS may not pass this at any sample (it starts near 100 MiB). */
const RSS_BOUND_MIB = 400;
const SAMPLE_MS = 200;
const BIG = 8 << 20;

let root: string;
let daemon: LocalDaemon;
let daemonAddress: string;
let bytes: Uint8Array;
let digest: Digest;
let maxRssMiB = 0;
let sampler: NodeJS.Timeout;
let fetches = 0;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/u.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

/** An honest `castor fetch` of the blob from the daemon, in a fresh data dir: identical, in time. */
async function honestFetch(label: string): Promise<void> {
  const n = fetches++;
  const out = path.join(root, `out-${n}`);
  const child = spawn(process.execPath, [CASTOR_CLI, 'fetch', formatDigest(digest), out, '--peer', daemonAddress, '--data-dir', path.join(root, `client-${n}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, FETCH_BOUND_MS);
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  assert.ok(!timedOut, `${label}: the honest fetch did not end within ${FETCH_BOUND_MS} ms: ${stderr}`);
  assert.equal(status, 0, `${label}: ${stderr}`);
  assert.ok((await readFile(out)).equals(bytes), `${label}: identical`);
}

/** `count` hosts of the attacker, each connected to the daemon. */
async function attackers(count: number): Promise<Host[]> {
  return Promise.all(Array.from({ length: count }, async () => {
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [], dht: false });
    await host.dial(parseMultiaddr(daemonAddress));
    return host;
  }));
}

async function openStream(host: Host, protocol: string): Promise<Stream | undefined> {
  try {
    return await host.dialProtocol(parseMultiaddr(daemonAddress), protocol);
  } catch {
    // Refused (stream limits, a disconnect for violations): the point is the daemon copes.
    return undefined;
  }
}

/** Sends bytes and, with `close`, ends the writing side; failures are what a hostile client expects. */
async function blast(stream: Stream | undefined, payload: Uint8Array, close = true): Promise<void> {
  if (stream === undefined) return;
  try {
    await send(stream, payload);
    if (close) await stream.close();
  } catch {
    stream.abort(new Error('attack stream done'));
  }
}

before(async () => {
  root = await tempDir('hostile-client');
  bytes = randomBytes(BIG);
  digest = await putBlob(await dataDir(root, 'served'), bytes);
  daemon = await startLocalDaemon(path.join(root, 'served'));
  daemonAddress = daemon.address;
  sampler = setInterval(() => { maxRssMiB = Math.max(maxRssMiB, rssMiB(daemon.pid)); }, SAMPLE_MS);
});

after(async () => {
  clearInterval(sampler);
  await daemon?.stop();
  await removeDir(root);
});

test('garbage and huge lengths on every protocol: refused, and an honest peer is served', async () => {
  const hosts = await attackers(4);
  try {
    const protocols = [BLOB_PROTOCOL, STAT_PROTOCOL, DIRECTORY_PROTOCOL, INDEX_PROTOCOL];
    const payloads = [
      () => cryptoRandom(4096),
      // A length prefix of 2^40, then some bytes.
      () => Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20, ...cryptoRandom(64)]),
      // A prefix of 2^35 - 1 (five bytes, the most a prefix may have), over every cap.
      () => Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x7f, ...cryptoRandom(64)]),
      // A valid-looking prefix of 64 KiB + 1 (one over the request cap) and that many bytes.
      () => framed(cryptoRandom(64 * 1024 + 1)),
    ];
    // 4 hosts x 4 protocols x 4 payloads x 4 rounds = 256 streams.
    await Promise.all(hosts.flatMap((h) => protocols.flatMap((p) => payloads.map(async (make) => {
      for (let round = 0; round < 4; round++) await blast(await openStream(h, p), make());
    }))));
    await honestFetch('after garbage');
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
  }
  assert.ok(maxRssMiB < RSS_BOUND_MIB, `daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB`);
});

test('10^6 ranges in one request, and MAX_RANGES + 1: refused, and an honest peer is served', async () => {
  const [host] = await attackers(1);
  try {
    const many = (n: number): Uint8Array => framed(BlobRequest.encode({
      digest: new Uint8Array(digest), groupLog: 4,
      ranges: Array.from({ length: n }, (_, i) => ({ start: BigInt(i * 2), end: BigInt(i * 2 + 1) })),
    }));
    await blast(await openStream(host!, BLOB_PROTOCOL), many(1_000_000));
    await blast(await openStream(host!, BLOB_PROTOCOL), many(1025));
    await honestFetch('after 10^6 ranges');
  } finally {
    await host!.stop();
  }
  assert.ok(maxRssMiB < RSS_BOUND_MIB, `daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB`);
});

test('200 blob streams at once that never read (slow readers): an honest peer is still served', { todo: 'defect 4 of issue 20' }, async () => {
  // 7 connections x 30 streams (a connection may hold 32 per protocol): 210 requests for
  // the whole 8 MiB blob, each read paused after the request, so responses pile up.
  const hosts = await attackers(7);
  const streams: Stream[] = [];
  try {
    await Promise.all(hosts.map(async (h) => {
      for (let i = 0; i < 30; i++) {
        const s = await openStream(h, BLOB_PROTOCOL);
        if (s === undefined) continue;
        s.pause();
        streams.push(s);
        await blast(s, framed(BlobRequest.encode({ digest: new Uint8Array(digest), groupLog: 4, ranges: [] })));
      }
    }));
    assert.ok(streams.length >= 200, `${streams.length} streams opened`);
    await honestFetch('beside 200 paused streams');
  } finally {
    for (const s of streams) s.abort(new Error('done'));
    await Promise.all(hosts.map((h) => h.stop()));
  }
  assert.ok(maxRssMiB < RSS_BOUND_MIB, `daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB`);
});

/** `count` TCP connections to the daemon that never finish a handshake (every 5th stops after multistream's first line). */
async function halfOpen(count: number): Promise<net.Socket[]> {
  const port = Number(/\/tcp\/(\d+)\//u.exec(daemonAddress)![1]);
  const sockets: net.Socket[] = [];
  await Promise.all(Array.from({ length: count }, (_, i) => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (i % 5 === 4) s.write(Buffer.concat([Buffer.from([0x13]), Buffer.from('/multistream/1.0.0\n')]));
      resolve();
    });
    s.on('error', () => resolve());
    sockets.push(s);
  })));
  return sockets;
}

for (const [count, todo] of [
  [40, undefined],
  // MAX_INCOMING_PENDING is 64: past it libp2p resets new connections until a pending one
  // times out (10 s), so an attacker who keeps 64 open shuts every honest peer out.
  [120, 'finding: 64 half-open connections (MAX_INCOMING_PENDING) shut honest peers out until the upgrade timeout'],
] as const) {
  test(`${count} half-open TCP connections (no handshake, or stopped in it): an honest peer is still served`, { todo }, async () => {
    const sockets = await halfOpen(count);
    try {
      await honestFetch(`beside ${count} half-open connections`);
    } finally {
      for (const s of sockets) s.destroy();
    }
    assert.ok(maxRssMiB < RSS_BOUND_MIB, `daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB`);
  });
}

test('slow readers: 20 streams reading the whole blob a few bytes at a time, bounded in time', async () => {
  const hosts = await attackers(2);
  const streams: Stream[] = [];
  const stopAt = Date.now() + 5000;
  try {
    await Promise.all(hosts.flatMap((h) => Array.from({ length: 10 }, async () => {
      const s = await openStream(h, BLOB_PROTOCOL);
      if (s === undefined) return;
      streams.push(s);
      await blast(s, framed(BlobRequest.encode({ digest: new Uint8Array(digest), groupLog: 4, ranges: [] })));
      // Let through one message, then pause for 100 ms, until the attack's time is up.
      s.addEventListener('message', () => {
        if (s.readStatus !== 'readable') return;
        s.pause();
        if (Date.now() < stopAt) setTimeout(() => { if (s.readStatus === 'paused') s.resume(); }, 100);
      });
    })));
    await honestFetch('beside slow readers');
  } finally {
    for (const s of streams) s.abort(new Error('done'));
    await Promise.all(hosts.map((h) => h.stop()));
  }
  assert.ok(maxRssMiB < RSS_BOUND_MIB, `daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB`);
});

test('the daemon is still alive and serving at the end', async () => {
  assert.equal(daemon.child.exitCode, null, 'daemon running');
  await honestFetch('at the end');
  process.stderr.write(`hostile-client: daemon RSS peaked at ${maxRssMiB.toFixed(0)} MiB over ${fetches} honest fetches\n`);
});
