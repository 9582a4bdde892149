// npm run bench:lan: castor on a network a user has, not loopback. Every node is a
// network namespace on a bridge, its link shaped with tc (test/support/netns.ts); nodes
// are real `castor daemon` processes and fetches are `castor fetch` processes, start-up
// included. Needs root (it says so and stops where namespaces cannot be made).
//
//   1. one link, 1 Gbit/s, 0.2 ms: castor fetch TICKET OUTPUT of a 512 MiB blob beside
//      raw TCP and a bare libp2p stream of the same file on the same link
//   2. four seeders with 50 Mbit/s uplinks, one fetcher on 1 Gbit/s, against one seeder
//   3. one seeder with a 50 Mbit/s uplink, six fetchers on 1 Gbit/s started together,
//      finding each other by mDNS, against one fetcher alone
//   4. WAN: 50 Mbit/s, 40 ms round trip, 0.1% loss: a 256 MiB fetch against raw TCP, and
//      the first verified byte of a 1 MiB range
//   5. a tree of 10,000 files of 1-16 KiB, 1 Gbit/s, 10 ms round trip, against tar over TCP
//
// Contenders of a scenario run interleaved, BENCH_RUNS times (default 3), medians
// reported. BENCH_LAN_SCENARIOS=1,2 picks scenarios; BENCH_LAN_MIB sets every blob's
// size (quick runs); BENCH_LAN_FILES the tree's file count. MB/s is 10^6 bytes per second
// of wall time of the receiving process, spawn to exit. BENCH_LAN_CPU_PROF=DIR profiles
// scenario 1's fetch process (node --cpu-prof). Every process is ended and every
// namespace removed at the end, also on a failure or SIGINT.

import { createHash, randomFillSync, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { castorOn, CLI, DAEMON_PORT, daemonPeers, parseUsage, procUsage, startDaemon, USAGE_PROBE, type CliRun, type Daemon, type Usage } from '../test/support/castor-procs.js';
import { delayMethod, namespacesUnavailable, stopChild, VirtualNetwork, type NodeSpec } from '../test/support/netns.js';
import { makeFile, median, table, tempDir } from './bench-util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TRANSFER = path.resolve(HERE, '../test/support/tcp-transfer.js');
const LAN_PEER = path.join(HERE, 'lan-peer.js');
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const MIB_OVERRIDE = process.env['BENCH_LAN_MIB'] === undefined ? undefined : Number(process.env['BENCH_LAN_MIB']);
const FILES = Number(process.env['BENCH_LAN_FILES'] ?? 10_000);
const PICK = new Set((process.env['BENCH_LAN_SCENARIOS'] ?? '1,2,3,4,5').split(',').map((s) => s.trim()));
const TCP_PORT = 5001;
const P2P_PORT = 5002;
const RANGE_RUNS = 5;
const MDNS_TIMEOUT_MS = 30_000;
/** BENCH_LAN_CPU_PROF=DIR: scenario 1's castor fetch writes V8 CPU profiles (one per thread) there. */
const CPU_PROF = process.env['BENCH_LAN_CPU_PROF'];

const mib = (n: number): number => (MIB_OVERRIDE ?? n) * (1 << 20);
const mb = (bytes: number, s: number): number => bytes / s / 1e6;
const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);
const mibOf = (kib: number): string => (kib / 1024).toFixed(0);
const load = (): string => `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
const log = (s: string): void => console.log(s);

// ---- processes ------------------------------------------------------------------------

/** A node script run on `node` to its end, with its usage. */
async function nodeRun(net: VirtualNetwork, node: string, script: string, args: string[]): Promise<CliRun & { json: Record<string, unknown> }> {
  const t0 = performance.now();
  const r = await net.exec(node, process.execPath, ['--import', USAGE_PROBE, script, ...args]);
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`${path.basename(script)} ${args[0]} on ${node} exited ${r.code}: ${r.stderr}`);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, seconds, usage: parseUsage(r.stderr), json };
}

interface Server {
  readonly pid: number;
  readonly first: Record<string, unknown>;
  stop(): Promise<Usage | undefined>;
}

/** A serving node script on `node`: its first stdout line, then serves until stopped. */
async function startServer(net: VirtualNetwork, node: string, script: string, args: string[]): Promise<Server> {
  const child = net.spawn(node, process.execPath, ['--import', USAGE_PROBE, script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const line = await new Promise<string | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => resolve(undefined));
  });
  if (line === undefined) throw new Error(`${path.basename(script)} on ${node} did not start: ${err}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    first: JSON.parse(line) as Record<string, unknown>,
    async stop() {
      child.stdin!.end();
      const timer = setTimeout(() => void stopChild(child), 10_000);
      await exited;
      clearTimeout(timer);
      return parseUsage(err);
    },
  };
}

function mustFetch(r: CliRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr}`);
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(b as Buffer);
  return h.digest('hex');
}

async function share(net: VirtualNetwork, node: string, dataDir: string, target: string): Promise<{ ticket: string; digest: string }> {
  const r = await castorOn(net, node, ['share', target, '--json', '--data-dir', dataDir]);
  mustFetch(r, 'castor share');
  const j = JSON.parse(r.stdout.trim().split('\n')[0]!) as { ticket: string; digest: string };
  return { ticket: j.ticket, digest: j.digest };
}

/** `castor add` in a data dir no daemon runs on: its digest. */
async function addOffline(net: VirtualNetwork, node: string, dataDir: string, target: string): Promise<string> {
  const r = await castorOn(net, node, ['add', target, '--json', '--data-dir', dataDir]);
  mustFetch(r, 'castor add');
  return (JSON.parse(r.stdout.trim().split('\n')[0]!) as { digest: string }).digest;
}

/** A copy of a data dir that is a node of its own (no identity, no daemon state). */
async function copyDataDir(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
  for (const f of ['identity.key', 'daemon.json', 'daemon.sock']) await rm(path.join(to, f), { force: true });
}

/** Waits until the daemon has `want` peers, or MDNS_TIMEOUT_MS; resolves to how many it has then. */
async function waitForPeers(net: VirtualNetwork, d: Daemon, want: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const n = (await daemonPeers(net, d.node, d.dataDir)).length;
    if (n >= want || performance.now() - t0 > MDNS_TIMEOUT_MS) return n;
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---- reporting -------------------------------------------------------------------------

interface Sample {
  seconds: number;
  bytes: number;
  cpu?: number;
  rssKiB?: number;
  /** Per other node: CPU seconds during the run, bytes it sent on its link during the run. */
  nodes?: Record<string, { cpu?: number; sent?: number }>;
}

function summary(samples: Sample[]): { mbs: number; wall: number; cpu: number; rss: number } {
  return {
    mbs: median(samples.map((s) => mb(s.bytes, s.seconds))),
    wall: median(samples.map((s) => s.seconds)),
    cpu: median(samples.map((s) => s.cpu ?? Number.NaN)),
    rss: Math.max(...samples.map((s) => s.rssKiB ?? 0)),
  };
}

function nodeFigures(samples: Sample[]): string {
  const names = Object.keys(samples[0]?.nodes ?? {});
  return names.map((n) => {
    const cpu = median(samples.map((s) => s.nodes![n]!.cpu ?? Number.NaN));
    const sent = median(samples.map((s) => s.nodes![n]!.sent ?? Number.NaN));
    return `${n}: ${Number.isNaN(cpu) ? '' : `CPU ${f2(cpu)} s, `}sent ${(sent / (1 << 20)).toFixed(0)} MiB`;
  }).join('; ');
}

/** CPU seconds and link bytes sent by each watched node over `f`. */
async function watched<T>(net: VirtualNetwork, pids: Record<string, number | undefined>, f: () => Promise<T>): Promise<{ result: T; nodes: Record<string, { cpu?: number; sent?: number }> }> {
  const names = Object.keys(pids);
  const cpu0 = names.map((n) => (pids[n] === undefined ? undefined : procUsage(pids[n]!).cpuSeconds));
  const tx0 = await Promise.all(names.map(async (n) => (await net.linkBytes(n)).tx));
  const result = await f();
  const tx1 = await Promise.all(names.map(async (n) => (await net.linkBytes(n)).tx));
  const nodes: Record<string, { cpu?: number; sent?: number }> = {};
  names.forEach((n, i) => {
    nodes[n] = { ...(pids[n] !== undefined && { cpu: procUsage(pids[n]!).cpuSeconds - cpu0[i]! }), sent: tx1[i]! - tx0[i]! };
  });
  return { result, nodes };
}

async function withNetwork<T>(specs: NodeSpec[], f: (net: VirtualNetwork) => Promise<T>): Promise<T> {
  const net = await VirtualNetwork.create(specs);
  try {
    return await f(net);
  } finally {
    await net.close();
  }
}

/** Delay for a scenario's link: the NFQUEUE delay line costs more than a sub-millisecond delay is worth. */
function subMsDelay(ms: number): number {
  return delayMethod() === 'netem' ? ms : 0;
}

// ---- scenario 1 ------------------------------------------------------------------------

async function scenario1(work: string): Promise<void> {
  const size = mib(512);
  const delay = subMsDelay(0.1);
  log(`\n## Scenario 1: one link, 1 Gbit/s each way, ${delay > 0 ? '0.2 ms round trip' : `no added delay (delay: ${delayMethod()}; veth's own round trip is well under 0.2 ms)`}, ${size >> 20} MiB blob`);
  const file = path.join(work, 's1-blob');
  makeFile(file, size);
  const sha = await sha256File(file);
  const link = { upMbit: 1000, downMbit: 1000, ...(delay > 0 && { delayMs: delay }) };
  await withNetwork([{ name: 'seed', ...link }, { name: 'fetch', ...link }], async (net) => {
    const seedIp = net.node('seed').address;
    const seeder = await startDaemon(net, 'seed', path.join(work, 's1-seed'));
    const { ticket } = await share(net, 'seed', seeder.dataDir, file);
    const tcp = await startServer(net, 'seed', TRANSFER, ['serve', seedIp, String(TCP_PORT), `file:${file}`]);
    const p2p = await startServer(net, 'seed', LAN_PEER, ['p2p-serve', `/ip4/${seedIp}/tcp/${P2P_PORT}`, file]);
    const samples: Record<string, Sample[]> = { castor: [], tcp: [], p2p: [] };
    const outputs: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const out = path.join(work, `s1-out-${run}`);
      outputs.push(out);
      const c = await watched(net, { seed: seeder.child.pid }, () => castorOn(net, 'fetch', ['fetch', ticket, out, '--data-dir', path.join(work, `s1-fetch-${run}`)], {}, CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', CPU_PROF]));
      mustFetch(c.result, 'castor fetch');
      samples['castor']!.push({ seconds: c.result.seconds, bytes: size, cpu: c.result.usage?.cpuSeconds, rssKiB: c.result.usage?.maxRssKiB, nodes: c.nodes });
      const t = await watched(net, { seed: tcp.pid }, () => nodeRun(net, 'fetch', TRANSFER, ['receive', seedIp, String(TCP_PORT), 'discard']));
      samples['tcp']!.push({ seconds: t.result.seconds, bytes: Number(t.result.json['bytes']), cpu: t.result.usage?.cpuSeconds, rssKiB: t.result.usage?.maxRssKiB, nodes: t.nodes });
      const p = await watched(net, { seed: p2p.pid }, () => nodeRun(net, 'fetch', LAN_PEER, ['p2p-receive', String(p2p.first['address'])]));
      samples['p2p']!.push({ seconds: p.result.seconds, bytes: Number(p.result.json['bytes']), cpu: p.result.usage?.cpuSeconds, rssKiB: p.result.usage?.maxRssKiB, nodes: p.nodes });
      log(`run ${run + 1}/${RUNS}: castor fetch ${f1(mb(size, c.result.seconds))} MB/s (${f2(c.result.seconds)} s, fetcher CPU ${f2(c.result.usage?.cpuSeconds ?? NaN)} s), raw TCP ${f1(mb(size, t.result.seconds))} MB/s, bare libp2p stream ${f1(mb(size, p.result.seconds))} MB/s; ${load()}`);
    }
    for (const out of outputs) if (await sha256File(out) !== sha) throw new Error(`${out} differs from the blob`);
    for (const s of samples['tcp']!.concat(samples['p2p']!)) if (s.bytes !== size) throw new Error(`a reference transfer got ${s.bytes} bytes`);
    const seederRss = procUsage(seeder.child.pid!).maxRssKiB;
    const tcpServer = await tcp.stop();
    const p2pServer = await p2p.stop();
    await seeder.stop();
    const c = summary(samples['castor']!);
    const t = summary(samples['tcp']!);
    const p = summary(samples['p2p']!);
    log(`\n${size >> 20} MiB, median of ${RUNS}, interleaved; wall time of the receiving process, spawn to exit (castor: start-up, fetch verified into the store, written to OUTPUT):\n`);
    log(table(['contender', 'MB/s', 'wall s', 'ratio to raw TCP', 'target', 'receiver CPU s', 'receiver peak RSS', 'sender CPU s (median, during the run)', 'sender peak RSS'], [
      ['castor fetch TICKET OUTPUT', f1(c.mbs), f2(c.wall), f2(c.mbs / t.mbs), '>= 0.90', f2(c.cpu), `${mibOf(c.rss)} MiB`, nodeFigures(samples['castor']!), `${mibOf(seederRss)} MiB (daemon, share of the blob included)`],
      ['raw TCP (node net, to /dev/null)', f1(t.mbs), f2(t.wall), '1.00', '', f2(t.cpu), `${mibOf(t.rss)} MiB`, nodeFigures(samples['tcp']!), `${mibOf(tcpServer?.maxRssKiB ?? 0)} MiB`],
      ['bare libp2p stream (tcp+noise+yamux, no verification, no store)', f1(p.mbs), f2(p.wall), f2(p.mbs / t.mbs), '', f2(p.cpu), `${mibOf(p.rss)} MiB`, nodeFigures(samples['p2p']!), `${mibOf(p2pServer?.maxRssKiB ?? 0)} MiB`],
    ]));
    for (const out of outputs) await rm(out, { force: true });
  });
  await rm(file, { force: true });
}

// ---- scenario 2 ------------------------------------------------------------------------

async function scenario2(work: string): Promise<void> {
  const size = mib(128);
  log(`\n## Scenario 2: four seeders with 50 Mbit/s uplinks, one fetcher on 1 Gbit/s, ${size >> 20} MiB blob`);
  const file = path.join(work, 's2-blob');
  makeFile(file, size);
  const seeds = ['s1', 's2', 's3', 's4'];
  const specs: NodeSpec[] = [...seeds.map((name) => ({ name, upMbit: 50, downMbit: 1000 })), { name: 'fetch', upMbit: 1000, downMbit: 1000 }];
  await withNetwork(specs, async (net) => {
    const digest = await addOffline(net, 's1', path.join(work, 's2-seed-s1'), file);
    for (const s of seeds.slice(1)) await copyDataDir(path.join(work, 's2-seed-s1'), path.join(work, `s2-seed-${s}`));
    const daemons = await Promise.all(seeds.map((s) => startDaemon(net, s, path.join(work, `s2-seed-${s}`), ['--no-mdns'])));
    const pids = Object.fromEntries(daemons.map((d) => [d.node, d.child.pid]));
    const tcp = await startServer(net, 's1', TRANSFER, ['serve', net.node('s1').address, String(TCP_PORT), `file:${file}`]);
    const contenders = { one: daemons.slice(0, 1), four: daemons };
    const samples: Record<string, Sample[]> = { one: [], four: [], tcp: [] };
    for (let run = 0; run < RUNS; run++) {
      const line: string[] = [];
      for (const [name, ds] of Object.entries(contenders)) {
        const out = path.join(work, `s2-out-${name}-${run}`);
        const peers = ds.flatMap((d) => ['--peer', d.address]);
        const c = await watched(net, pids, () => castorOn(net, 'fetch', ['fetch', digest, out, ...peers, '--data-dir', path.join(work, `s2-fetch-${name}-${run}`)]));
        mustFetch(c.result, `castor fetch from ${name}`);
        if ((await stat(out)).size !== size) throw new Error(`${out} has the wrong size`);
        await rm(out);
        samples[name]!.push({ seconds: c.result.seconds, bytes: size, cpu: c.result.usage?.cpuSeconds, rssKiB: c.result.usage?.maxRssKiB, nodes: c.nodes });
        line.push(`${name} seeder${name === 'one' ? '' : 's'} ${f1(mb(size, c.result.seconds))} MB/s`);
      }
      const t = await nodeRun(net, 'fetch', TRANSFER, ['receive', net.node('s1').address, String(TCP_PORT), 'discard']);
      samples['tcp']!.push({ seconds: t.seconds, bytes: Number(t.json['bytes']), cpu: t.usage?.cpuSeconds, rssKiB: t.usage?.maxRssKiB });
      log(`run ${run + 1}/${RUNS}: ${line.join(', ')}, raw TCP from one seeder ${f1(mb(size, t.seconds))} MB/s; ${load()}`);
    }
    const seederRss = daemons.map((d) => procUsage(d.child.pid!).maxRssKiB);
    await tcp.stop();
    await Promise.all(daemons.map((d) => d.stop()));
    const one = summary(samples['one']!);
    const four = summary(samples['four']!);
    const t = summary(samples['tcp']!);
    log(`\n${size >> 20} MiB, median of ${RUNS}, interleaved; castor fetch DIGEST OUTPUT --peer ... (a process, start-up included):\n`);
    log(table(['contender', 'MB/s', 'wall s', 'speedup vs one seeder', 'target', 'fetcher CPU s', 'fetcher peak RSS', 'seeders (CPU during the run, bytes sent on the link)'], [
      ['castor, one seeder', f1(one.mbs), f2(one.wall), '1.00', '', f2(one.cpu), `${mibOf(one.rss)} MiB`, nodeFigures(samples['one']!)],
      ['castor, four seeders', f1(four.mbs), f2(four.wall), f2(four.mbs / one.mbs), '>= 3.6', f2(four.cpu), `${mibOf(four.rss)} MiB`, nodeFigures(samples['four']!)],
      ['raw TCP from one seeder', f1(t.mbs), f2(t.wall), f2(t.mbs / one.mbs), '', f2(t.cpu), `${mibOf(t.rss)} MiB`, ''],
    ]));
    log(`seeder daemons' peak RSS: ${seederRss.map(mibOf).join(', ')} MiB`);
  });
  await rm(file, { force: true });
}

// ---- scenario 3 ------------------------------------------------------------------------

async function scenario3(work: string): Promise<void> {
  const size = mib(128);
  const fetchers = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
  log(`\n## Scenario 3: one seeder with a 50 Mbit/s uplink, six fetchers on 1 Gbit/s started together, found by mDNS, ${size >> 20} MiB blob`);
  const file = path.join(work, 's3-blob');
  makeFile(file, size);
  const specs: NodeSpec[] = [{ name: 'seed', upMbit: 50, downMbit: 1000 }, ...fetchers.map((name) => ({ name, upMbit: 1000, downMbit: 1000 }))];
  await withNetwork(specs, async (net) => {
    const digest = await addOffline(net, 'seed', path.join(work, 's3-seed'), file);
    const seeder = await startDaemon(net, 'seed', path.join(work, 's3-seed'));
    const alone: Sample[] = [];
    const together: Sample[] = [];
    const rss: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // One fetcher alone: its daemon, found by the seeder's mDNS and finding it.
      {
        const d = await startDaemon(net, 'f1', path.join(work, `s3-alone-${run}`));
        if (await waitForPeers(net, d, 1) < 1) throw new Error(`f1 found no peer by mDNS within ${MDNS_TIMEOUT_MS} ms:\n${d.stderr()}`);
        const out = path.join(work, `s3-out-alone-${run}`);
        const c = await watched(net, { seed: seeder.child.pid, f1: d.child.pid }, () => castorOn(net, 'f1', ['fetch', digest, out, '--data-dir', d.dataDir]));
        mustFetch(c.result, 'castor fetch (alone)');
        if ((await stat(out)).size !== size) throw new Error(`${out} has the wrong size`);
        await rm(out);
        alone.push({ seconds: c.result.seconds, bytes: size, nodes: c.nodes });
        rss.push((await d.stop())?.maxRssKiB ?? 0);
      }
      // Six at once, every daemon up and connected to the other six nodes first.
      const ds = await Promise.all(fetchers.map((f) => startDaemon(net, f, path.join(work, `s3-six-${run}-${f}`))));
      // Best effort: a daemon that has not found all six by then starts with what it has.
      const t0 = performance.now();
      const found = await Promise.all(ds.map((d) => waitForPeers(net, d, fetchers.length)));
      const waited = (performance.now() - t0) / 1000;
      const pids = { seed: seeder.child.pid, ...Object.fromEntries(ds.map((d) => [d.node, d.child.pid])) };
      const c = await watched(net, pids, () => Promise.all(ds.map((d) => castorOn(net, d.node, ['fetch', digest, path.join(work, `s3-out-${d.node}-${run}`), '--data-dir', d.dataDir]))));
      const failed = c.result.map((r, i) => [ds[i]!.node, r] as const).filter(([, r]) => r.code !== 0);
      if (failed.length > 0) {
        // Reported, not fatal: the next run starts afresh.
        log(`run ${run + 1}/${RUNS}: ${failed.length} of 6 fetches FAILED (${failed.map(([n, r]) => `${n}: ${r.stderr.split('\n')[0]!.slice(0, 300)}`).join('; ')}); peers connected at the start, of 6: ${found.join(', ')}; ${load()}`);
        for (const d of ds) await d.stop();
        continue;
      }
      for (const d of ds) {
        const out = path.join(work, `s3-out-${d.node}-${run}`);
        if ((await stat(out)).size !== size) throw new Error(`${out} has the wrong size`);
        await rm(out);
      }
      const last = Math.max(...c.result.map((r) => r.seconds));
      together.push({ seconds: last, bytes: size, nodes: c.nodes });
      for (const d of ds) rss.push((await d.stop())?.maxRssKiB ?? 0);
      log(`run ${run + 1}/${RUNS}: alone ${f2(alone[run]!.seconds)} s; six together: ${c.result.map((r) => f2(r.seconds)).join(', ')} s (last ${f2(last)} s, ${f2(last / alone[run]!.seconds)}x alone; peers connected at the start, of 6: ${found.join(', ')}, after ${waited.toFixed(1)} s); ${load()}`);
    }
    const seederRss = procUsage(seeder.child.pid!).maxRssKiB;
    await seeder.stop();
    if (together.length === 0) throw new Error('no run of six fetchers together succeeded');
    const a = summary(alone);
    const t = summary(together);
    log(`\n${size >> 20} MiB, median of ${together.length} successful runs of six (${alone.length} alone); castor fetch DIGEST OUTPUT through each fetcher's daemon (peers found by mDNS, no --peer):\n`);
    log(table(['contender', 'wall s (last fetcher)', 'ratio to one alone', 'target', 'nodes (CPU during the run, bytes sent on the link)'], [
      ['one fetcher alone', f2(a.wall), '1.00', '', nodeFigures(alone)],
      ['six fetchers together', f2(t.wall), f2(t.wall / a.wall), '<= 1.5 (a central server: 6)', nodeFigures(together)],
    ]));
    log(`peak RSS: seeder daemon ${mibOf(seederRss)} MiB, fetcher daemons up to ${mibOf(Math.max(...rss))} MiB`);
  });
  await rm(file, { force: true });
}

// ---- scenario 4 ------------------------------------------------------------------------

async function scenario4(work: string): Promise<void> {
  const size = mib(256);
  const rttMs = 40;
  log(`\n## Scenario 4: WAN, 50 Mbit/s each way, ${rttMs} ms round trip, 0.1% loss each way (delay: ${delayMethod()}), ${size >> 20} MiB blob`);
  const file = path.join(work, 's4-blob');
  makeFile(file, size);
  const link = { upMbit: 50, downMbit: 50, delayMs: rttMs / 2, lossPct: 0.1 };
  await withNetwork([{ name: 'seed', ...link }, { name: 'fetch', ...link }], async (net) => {
    const seedIp = net.node('seed').address;
    const seeder = await startDaemon(net, 'seed', path.join(work, 's4-seed'));
    const { ticket, digest } = await share(net, 'seed', seeder.dataDir, file);
    const tcp = await startServer(net, 'seed', TRANSFER, ['serve', seedIp, String(TCP_PORT), `file:${file}`]);
    const castor: Sample[] = [];
    const raw: Sample[] = [];
    for (let run = 0; run < RUNS; run++) {
      const out = path.join(work, `s4-out-${run}`);
      const c = await watched(net, { seed: seeder.child.pid }, () => castorOn(net, 'fetch', ['fetch', ticket, out, '--data-dir', path.join(work, `s4-fetch-${run}`)]));
      mustFetch(c.result, 'castor fetch');
      if ((await stat(out)).size !== size) throw new Error(`${out} has the wrong size`);
      await rm(out);
      castor.push({ seconds: c.result.seconds, bytes: size, cpu: c.result.usage?.cpuSeconds, rssKiB: c.result.usage?.maxRssKiB, nodes: c.nodes });
      const t = await nodeRun(net, 'fetch', TRANSFER, ['receive', seedIp, String(TCP_PORT), 'discard']);
      raw.push({ seconds: t.seconds, bytes: Number(t.json['bytes']), cpu: t.usage?.cpuSeconds, rssKiB: t.usage?.maxRssKiB });
      log(`run ${run + 1}/${RUNS}: castor fetch ${f1(mb(size, c.result.seconds))} MB/s, raw TCP ${f1(mb(size, t.seconds))} MB/s; ${load()}`);
    }
    const range = await nodeRun(net, 'fetch', LAN_PEER, ['range', seeder.address, digest, String(size), String(RANGE_RUNS), path.join(work, 's4-range')]);
    const coldMs = Number(range.json['coldMs']);
    const warmMs = median(range.json['warmMs'] as number[]);
    await tcp.stop();
    const seederUsage = await seeder.stop();
    const c = summary(castor);
    const t = summary(raw);
    log(`\n${size >> 20} MiB, median of ${RUNS}, interleaved:\n`);
    log(table(['what', 'figure', 'ratio', 'target'], [
      ['castor fetch TICKET OUTPUT', `${f1(c.mbs)} MB/s (${f2(c.wall)} s; fetcher CPU ${f2(c.cpu)} s, peak RSS ${mibOf(c.rss)} MiB)`, `${f2(c.mbs / t.mbs)} of raw TCP`, '>= 0.90'],
      ['raw TCP', `${f1(t.mbs)} MB/s (${f2(t.wall)} s)`, '', ''],
      [`1 MiB range from the middle, first verified byte, warm connection (median of ${RANGE_RUNS})`, `${f1(warmMs)} ms`, `${f2(warmMs / rttMs)} round trips`, '<= 3 round trips'],
      ['the same on a fresh connection (dial, Noise, yamux included)', `${f1(coldMs)} ms`, `${f2(coldMs / rttMs)} round trips`, ''],
      ['seeder daemon', `sent ${nodeFigures(castor)}; peak RSS ${mibOf(seederUsage?.maxRssKiB ?? 0)} MiB`, '', ''],
    ]));
  });
  await rm(file, { force: true });
}

// ---- scenario 5 ------------------------------------------------------------------------

async function makeTree(dir: string, files: number): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
    if (i % 100 === 0) await mkdir(sub, { recursive: true });
    const b = Buffer.alloc(randomInt(1024, 16 * 1024 + 1));
    randomFillSync(b);
    await writeFile(path.join(sub, `f${i}`), b);
    bytes += b.length;
  }
  return bytes;
}

async function sameTree(a: string, b: string): Promise<boolean> {
  const list = async (d: string): Promise<string[]> => (await readdir(d, { recursive: true })).map(String).sort();
  const [la, lb] = [await list(a), await list(b)];
  if (la.join('\n') !== lb.join('\n')) return false;
  for (const f of la) {
    const sa = await stat(path.join(a, f));
    if (sa.isFile() && await sha256File(path.join(a, f)) !== await sha256File(path.join(b, f))) return false;
  }
  return true;
}

async function scenario5(work: string): Promise<void> {
  const rttMs = 10;
  log(`\n## Scenario 5: a tree of ${FILES} files of 1-16 KiB, 1 Gbit/s each way, ${rttMs} ms round trip (delay: ${delayMethod()})`);
  const tree = path.join(work, 's5-tree');
  const bytes = await makeTree(tree, FILES);
  const link = { upMbit: 1000, downMbit: 1000, delayMs: rttMs / 2 };
  await withNetwork([{ name: 'seed', ...link }, { name: 'fetch', ...link }], async (net) => {
    const seedIp = net.node('seed').address;
    const seeder = await startDaemon(net, 'seed', path.join(work, 's5-seed'));
    const { ticket } = await share(net, 'seed', seeder.dataDir, tree);
    const tcp = await startServer(net, 'seed', TRANSFER, ['serve', seedIp, String(TCP_PORT), `tar:${tree}`]);
    const castor: Sample[] = [];
    const tar: Sample[] = [];
    for (let run = 0; run < RUNS; run++) {
      const out = path.join(work, `s5-out-${run}`);
      const c = await watched(net, { seed: seeder.child.pid }, () => castorOn(net, 'fetch', ['fetch', ticket, out, '--data-dir', path.join(work, `s5-fetch-${run}`)]));
      mustFetch(c.result, 'castor fetch');
      castor.push({ seconds: c.result.seconds, bytes, cpu: c.result.usage?.cpuSeconds, rssKiB: c.result.usage?.maxRssKiB, nodes: c.nodes });
      const tarOut = path.join(work, `s5-tar-${run}`);
      await mkdir(tarOut);
      const t = await watched(net, { seed: tcp.pid }, () => nodeRun(net, 'fetch', TRANSFER, ['receive', seedIp, String(TCP_PORT), `untar:${tarOut}`]));
      tar.push({ seconds: t.result.seconds, bytes, cpu: t.result.usage?.cpuSeconds, rssKiB: t.result.usage?.maxRssKiB, nodes: t.nodes });
      if (run === 0 && !(await sameTree(tree, out) && await sameTree(tree, tarOut))) throw new Error('a fetched tree differs from the original');
      log(`run ${run + 1}/${RUNS}: castor fetch ${f2(c.result.seconds)} s, tar over TCP ${f2(t.result.seconds)} s; ${load()}`);
    }
    await tcp.stop();
    const seederUsage = await seeder.stop();
    const c = summary(castor);
    const t = summary(tar);
    log(`\n${FILES} files, ${(bytes / (1 << 20)).toFixed(0)} MiB, median of ${RUNS}, interleaved:\n`);
    log(table(['contender', 'wall s', 'MB/s (file bytes)', 'ratio of wall time to tar', 'target', 'receiver CPU s', 'receiver peak RSS', 'sender'], [
      ['castor fetch TICKET OUTPUT', f2(c.wall), f1(c.mbs), f2(c.wall / t.wall), '<= 2', f2(c.cpu), `${mibOf(c.rss)} MiB`, `${nodeFigures(castor)}; peak RSS ${mibOf(seederUsage?.maxRssKiB ?? 0)} MiB`],
      ['tar -c, TCP, tar -x', f2(t.wall), f1(t.mbs), '1.00', '', f2(t.cpu), `${mibOf(t.rss)} MiB (node receiver; tar not counted)`, nodeFigures(tar)],
    ]));
  });
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const why = namespacesUnavailable();
  if (why !== undefined) {
    console.error(`bench:lan needs network namespaces: ${why}`);
    process.exitCode = 1;
    return;
  }
  const work = tempDir();
  log(`bench:lan: work dir ${work}, ${RUNS} runs, scenarios ${[...PICK].join(',')}, delay and loss by ${delayMethod()}; cli ${CLI}; ${load()}; listen port ${DAEMON_PORT}`);
  try {
    const scenarios: [string, (w: string) => Promise<void>][] = [['1', scenario1], ['2', scenario2], ['3', scenario3], ['4', scenario4], ['5', scenario5]];
    for (const [id, f] of scenarios) {
      if (!PICK.has(id)) continue;
      log(`\n(${load()} before scenario ${id})`);
      try {
        await f(work);
      } catch (err: unknown) {
        // One scenario's failure is a result too; the others still run.
        process.exitCode = 1;
        log(`\nscenario ${id} FAILED: ${(err instanceof Error ? err.message : String(err)).split('\n').slice(0, 3).join(' | ').slice(0, 1000)}`);
      }
      log(`(${load()} after scenario ${id})`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
