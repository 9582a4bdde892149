// npm run bench:swarm: many peers at once, each node a process of its own on loopback.
// In one run: the time for 1, 2 and 4 seeders to serve a 256 MiB blob to one fetcher,
// and for one seeder to serve 4 fetchers at once (which know each other and so also
// serve each other what they verified), beside a single bare libp2p stream of the same
// bytes (bench/net-peer.ts). Reports MB/s, the speedup over one seeder, the blob bytes
// each node served and peak RSS. Medians of BENCH_RUNS; BENCH_SIZE_MIB sets the size.
// Every process is killed after CHILD_TIMEOUT_MS, so a run always stops by itself.
//
// The same file is also the node processes (a role as the first argument):
//   seed DATA_DIR         serves DATA_DIR; prints {address}; on stdin's end prints {served, maxRssKiB}
//   fetch DIGEST DATA_DIR prints {address}; reads one line {peers:[multiaddr...]}, connects,
//                         fetches from all of them, prints {seconds, fromPeers}; keeps serving
//                         until stdin ends, then prints {served, maxRssKiB}

import { spawn, type ChildProcess } from 'node:child_process';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CastorNode } from '../src/node/index.js';
import { fetchBlob } from '../src/node/index.js';
import { servedBytes } from '../src/node/index.js';
import { openDataDir } from '../src/store/index.js';
import { formatDigest, parseDigest } from '../src/store/index.js';
import { ingestPath } from '../src/store/index.js';
import { makeFile, median, removeDir, table, tempDir } from './bench-util.js';

const SIZE = Number(process.env['BENCH_SIZE_MIB'] ?? 256) << 20;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const CHILD_TIMEOUT_MS = 10 * 60_000;
const SELF = fileURLToPath(import.meta.url);
const NET_PEER = path.join(path.dirname(SELF), 'net-peer.js');
const LOOPBACK = '/ip4/127.0.0.1/tcp/0';

function say(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- the node roles -------------------------------------------------------------

function onStdinEnd(f: () => Promise<void>): void {
  process.stdin.on('end', () => void f().then(() => process.exit(0)));
  process.stdin.resume();
}

async function seedRole(dir: string): Promise<void> {
  const data = await openDataDir(dir);
  const node = await CastorNode.start(data, { listen: [LOOPBACK] });
  say({ address: node.addresses()[0] });
  onStdinEnd(async () => {
    await node.stop();
    say({ served: servedBytes(data).total, maxRssKiB: process.resourceUsage().maxRSS });
  });
}

async function fetchRole(hex: string, dir: string): Promise<void> {
  const data = await openDataDir(dir, { create: true });
  const node = await CastorNode.start(data, { listen: [LOOPBACK] });
  say({ address: node.addresses()[0] });
  const lines = createInterface({ input: process.stdin });
  const { peers } = JSON.parse(await new Promise<string>((resolve) => lines.once('line', resolve))) as { peers: string[] };
  lines.on('close', () => {
    void node.stop().then(() => {
      say({ served: servedBytes(data).total, maxRssKiB: process.resourceUsage().maxRSS });
      process.exit(0);
    });
  });
  const ids = await Promise.all(peers.map((a) => node.connect(a)));
  const peerIds = node.host.getPeers().filter((p) => ids.includes(p.toString()));
  const t0 = performance.now();
  const r = await fetchBlob({ host: node.host, data }, parseDigest(hex), peerIds);
  say({ seconds: (performance.now() - t0) / 1000, bytes: r.size, fromPeers: r.fromPeers ?? {} });
}

// ---- the driver -------------------------------------------------------------------

interface Child {
  readonly proc: ChildProcess;
  readonly lines: Interface;
  next(): Promise<Record<string, unknown>>;
  send(line: string): void;
  /** Ends its stdin; resolves to its last line. */
  finish(): Promise<Record<string, unknown>>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  proc.once('exit', () => clearTimeout(timer));
  const lines = createInterface({ input: proc.stdout! });
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  lines.on('line', (l) => {
    const w = waiting.shift();
    if (w !== undefined) w(l);
    else queue.push(l);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const next = async (): Promise<Record<string, unknown>> => {
    const l = queue.shift() ?? await Promise.race([
      new Promise<string>((resolve) => waiting.push(resolve)),
      exited.then(() => { throw new Error(`${args.slice(1, 2).join(' ')} exited early (code ${proc.exitCode})`); }),
    ]);
    return JSON.parse(l) as Record<string, unknown>;
  };
  return {
    proc, lines, next,
    send: (line) => { proc.stdin!.write(`${line}\n`); },
    async finish() {
      proc.stdin!.end();
      return next();
    },
  };
}

interface Scenario {
  readonly name: string;
  readonly seeders: number;
  readonly fetchers: number;
}

interface Outcome {
  /** Wall time until the last fetcher finished. */
  seconds: number;
  /** Blob bytes each seeder and each fetcher served. */
  seederServed: number[];
  fetcherServed: number[];
  maxRssKiB: number;
}

async function runScenario(dir: string, hex: string, s: Scenario, run: number): Promise<Outcome> {
  const seeders: Child[] = [];
  for (let i = 0; i < s.seeders; i++) {
    const d = path.join(dir, `seed-${i}`);
    seeders.push(child([SELF, 'seed', d]));
  }
  const seedAddrs = await Promise.all(seeders.map(async (c) => String((await c.next())['address'])));
  // A data dir of its own for every fetcher of every scenario and run: one that held the
  // blob already would answer from its store and time nothing.
  const fetchers = Array.from({ length: s.fetchers }, (_, i) => child([SELF, 'fetch', hex, path.join(dir, `client-${run}-${s.seeders}x${s.fetchers}-${i}`)]));
  const fetchAddrs = await Promise.all(fetchers.map(async (c) => String((await c.next())['address'])));
  const t0 = performance.now();
  fetchers.forEach((c, i) => c.send(JSON.stringify({ peers: [...seedAddrs, ...fetchAddrs.filter((_, j) => j !== i)] })));
  const results = await Promise.all(fetchers.map((c) => c.next()));
  const seconds = (performance.now() - t0) / 1000;
  for (const r of results) {
    if (r['bytes'] !== SIZE) throw new Error(`a fetch got ${String(r['bytes'])} bytes`);
    const fetched = Object.values(r['fromPeers'] as Record<string, number>).reduce((a, b) => a + b, 0);
    if (fetched < SIZE) throw new Error(`a fetch took ${fetched} bytes from peers, less than the blob's ${SIZE}`);
  }
  const fetcherEnds = await Promise.all(fetchers.map((c) => c.finish()));
  const seederEnds = await Promise.all(seeders.map((c) => c.finish()));
  // Fetchers' data dirs stay until the bench ends: on this machine kind's ext4 (no journal)
  // files created within minutes of thousands being deleted cost several times as much
  // (bench:net's client spent 5.4 s of a 256 MiB fetch creating chunk files right after an
  // rm -rf, 1.2 s after none), so removing one scenario's dirs slowed the next scenario's
  // fetcher, and with it every scenario after the first of a run.
  const rss = [...fetcherEnds, ...seederEnds].map((e) => Number(e['maxRssKiB']));
  return {
    seconds,
    seederServed: seederEnds.map((e) => Number(e['served'])),
    fetcherServed: fetcherEnds.map((e) => Number(e['served'])),
    maxRssKiB: Math.max(...rss),
  };
}

async function rawStream(file: string): Promise<number[]> {
  const server = child([NET_PEER, 'serve-raw', file]);
  const address = String((await server.next())['address']);
  const secs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c = child([NET_PEER, 'raw', address]);
    secs.push(Number((await c.next())['seconds']));
  }
  await server.finish();
  return secs;
}

const mb = (bytes: number, s: number): number => bytes / s / 1e6;
const mibOf = (bytes: number): string => (bytes / (1 << 20)).toFixed(0);

async function main(): Promise<void> {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'blob');
    console.log(`making a ${SIZE >> 20} MiB file and storing it in four seeders' data dirs (${dir}) ...`);
    makeFile(file, SIZE);
    const seed = await openDataDir(path.join(dir, 'seed-0'), { create: true });
    const hex = formatDigest((await ingestPath(file, seed)).digest);
    // Copies before any node started there: each seeder makes an identity of its own.
    for (let i = 1; i < 4; i++) await cp(path.join(dir, 'seed-0'), path.join(dir, `seed-${i}`), { recursive: true });

    const scenarios: Scenario[] = [
      { name: '1 seeder -> 1 fetcher', seeders: 1, fetchers: 1 },
      { name: '2 seeders -> 1 fetcher', seeders: 2, fetchers: 1 },
      { name: '4 seeders -> 1 fetcher', seeders: 4, fetchers: 1 },
      { name: '1 seeder -> 4 fetchers at once (fetchers know each other)', seeders: 1, fetchers: 4 },
    ];
    const outcomes = new Map<string, Outcome[]>(scenarios.map((s) => [s.name, []]));
    const raw: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Interleaved, so load from elsewhere on the machine spreads over all of them.
      for (const s of scenarios) {
        const o = await runScenario(dir, hex, s, run);
        outcomes.get(s.name)!.push(o);
        console.log(`run ${run + 1}/${RUNS}: ${s.name}: ${mb(SIZE * s.fetchers, o.seconds).toFixed(0)} MB/s`);
      }
    }
    raw.push(...await rawStream(file));
    const rawMBs = median(raw.map((s) => mb(SIZE, s)));

    const rows: string[][] = [];
    let base: number | undefined;
    for (const s of scenarios) {
      const os = outcomes.get(s.name)!;
      const rate = median(os.map((o) => mb(SIZE * s.fetchers, o.seconds)));
      base ??= rate;
      // Served bytes of the median run (by rate).
      const mid = [...os].sort((a, b) => a.seconds - b.seconds)[os.length >> 1]!;
      const served = [
        ...mid.seederServed.map((b, i) => `seeder ${i + 1}: ${mibOf(b)}`),
        ...(s.fetchers > 1 ? mid.fetcherServed.map((b, i) => `fetcher ${i + 1}: ${mibOf(b)}`) : []),
      ].join(', ');
      rows.push([s.name, rate.toFixed(0), (rate / base).toFixed(2), `${served} MiB`, `${(Math.max(...os.map((o) => o.maxRssKiB)) / 1024).toFixed(0)} MiB`]);
    }
    rows.push(['bare libp2p stream, 1 -> 1 (no verification, no store)', rawMBs.toFixed(0), '', '', '']);
    console.log(`\n${SIZE >> 20} MiB blob, loopback, every node a process, median of ${RUNS} (MB/s: all fetchers' bytes / wall time):\n`);
    console.log(table(['what', 'MB/s', 'speedup vs 1 seeder', 'blob bytes served per node', 'peak RSS (any node)'], rows));
    const four = rows[2]![2];
    console.log(`\ntarget: 4 seeders >= 1.5x one seeder; measured ${four}x`);
  } finally {
    removeDir(dir);
  }
}

const [role, ...args] = process.argv.slice(2);
const roles: Record<string, () => Promise<void>> = {
  seed: () => seedRole(args[0]!),
  fetch: () => fetchRole(args[0]!, args[1]!),
};
if (role === undefined) {
  await main();
} else {
  const r = roles[role];
  if (r === undefined) throw new Error(`unknown role ${role}`);
  r().catch((err: unknown) => {
    process.stderr.write(`bench swarm ${role}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
