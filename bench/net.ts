// npm run bench:net: two processes on loopback. A 256 MiB blob fetched with castor
// (verified, written to the store) beside the same bytes over a bare libp2p stream of
// the same tcp+noise+yamux stack (no verification, no store), alternating, median of
// BENCH_RUNS each; time to first verified byte; the latency of a 1 MiB range from the
// middle of a 1 GiB blob on a warm connection; peak RSS of server and clients, and the
// clients' CPU time (which load from elsewhere disturbs less than their MB/s).
// BENCH_SIZE_MIB, BENCH_BIG_MIB and BENCH_RUNS change the sizes and repeat count.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatDigest } from '../src/store/index.js';
import { openDataDir } from '../src/store/index.js';
import { ingestPath } from '../src/store/index.js';
import { makeFile, median, removeDir, table, tempDir } from './bench-util.js';

const SIZE = Number(process.env['BENCH_SIZE_MIB'] ?? 256) << 20;
const BIG = Number(process.env['BENCH_BIG_MIB'] ?? 1024) << 20;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const RANGE_RUNS = 21;
const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'net-peer.js');

interface Result {
  seconds?: number;
  bytes?: number;
  firstByteMs?: number | null;
  ms?: number[];
  maxRssKiB: number;
  /** The process's CPU time, all threads, user + system, from its start. */
  cpuSeconds: number;
}

interface Server {
  readonly address: string;
  /** Stops it; resolves to its peak RSS in KiB. */
  stop(): Promise<number>;
}

/** A net-peer server role in a process of its own, serving until its stdin closes. */
async function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
  const address = (JSON.parse(await next()) as { address: string }).address;
  return {
    address,
    async stop() {
      child.stdin!.end();
      return (JSON.parse(await next()) as Result).maxRssKiB;
    },
  };
}

function peer(args: string[]): Result {
  const r = spawnSync(process.execPath, [PEER, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`net-peer ${args[0]} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

const mb = (bytes: number, s: number): number => bytes / s / 1e6;
const mib = (kib: number): string => (kib / 1024).toFixed(0);

async function main(): Promise<void> {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'blob');
    const bigFile = path.join(dir, 'big');
    console.log(`making ${SIZE >> 20} MiB and ${BIG >> 20} MiB files and storing them in the server's data dir (${dir}) ...`);
    makeFile(file, SIZE);
    makeFile(bigFile, BIG);
    const served = await openDataDir(path.join(dir, 'server'), { create: true });
    const digest = formatDigest((await ingestPath(file, served)).digest);
    const bigDigest = formatDigest((await ingestPath(bigFile, served)).digest);
    removeDir(bigFile);

    const server = await startServer(['serve', path.join(dir, 'server')]);
    const rawServer = await startServer(['serve-raw', file]);
    const address = server.address;

    const castorRuns: Result[] = [];
    const rawRuns: Result[] = [];
    for (let i = 0; i < RUNS; i++) {
      const client = path.join(dir, `client-${i}`);
      // Client dirs are removed after the last run, not between runs: creating files
      // right after thousands were deleted is slow on this file system (see bench:store),
      // and each run's chunk files paid for the previous run's cleanup (the store
      // worker's open() calls took 5.4 s of a 256 MiB fetch right after an rm -rf of the
      // previous client, 1.2 s in a run that followed none; profiled at load ~6).
      castorRuns.push(peer(['castor', address, digest, client]));
      rawRuns.push(peer(['raw', rawServer.address]));
      const c = castorRuns[i]!;
      const r = rawRuns[i]!;
      console.log(`run ${i + 1}/${RUNS}: castor ${mb(SIZE, c.seconds!).toFixed(0)} MB/s (client CPU ${c.cpuSeconds.toFixed(2)} s), bare stream ${mb(SIZE, r.seconds!).toFixed(0)} MB/s (client CPU ${r.cpuSeconds.toFixed(2)} s)`);
    }
    const range = peer(['range', address, bigDigest, String(BIG), String(RANGE_RUNS), path.join(dir, 'range-client')]);
    const serverRss = await server.stop();
    const rawServerRss = await rawServer.stop();

    const castorMBs = median(castorRuns.map((r) => mb(SIZE, r.seconds!)));
    const rawMBs = median(rawRuns.map((r) => mb(SIZE, r.seconds!)));
    const firstByte = median(castorRuns.map((r) => r.firstByteMs ?? Number.NaN));
    const rangeMs = median(range.ms!);
    const castorCpu = median(castorRuns.map((r) => r.cpuSeconds));
    const rawCpu = median(rawRuns.map((r) => r.cpuSeconds));
    console.log(`\n${SIZE >> 20} MiB blob, loopback, two processes, median of ${RUNS} (castor and the bare stream alternating):\n`);
    console.log(table(['what', 'MB/s', 'reference (same run)', 'ratio', 'target'], [
      [`castor fetch (verified, into the store)`, castorMBs.toFixed(0), `bare libp2p stream: ${rawMBs.toFixed(0)} MB/s`, (castorMBs / rawMBs).toFixed(2), '>= 0.85'],
    ]));
    console.log('\n' + table(['what', 'figure', 'target'], [
      ['time to first verified byte (256 MiB fetch, from the request)', `${firstByte.toFixed(1)} ms`, ''],
      [`1 MiB range from the middle of a ${BIG >> 20} MiB blob, warm connection (median of ${RANGE_RUNS})`, `${rangeMs.toFixed(1)} ms`, '< 20 ms'],
      ['client CPU time, all threads, user + system, process start to exit (castor / bare stream): less disturbed by load than MB/s', `${castorCpu.toFixed(2)} s / ${rawCpu.toFixed(2)} s`, ''],
      ['peak RSS, castor client', `${mib(Math.max(...castorRuns.map((r) => r.maxRssKiB)))} MiB`, '< 200 MiB'],
      ['peak RSS, bare-stream client', `${mib(Math.max(...rawRuns.map((r) => r.maxRssKiB)))} MiB`, ''],
      ['peak RSS, range client', `${mib(range.maxRssKiB)} MiB`, ''],
      ['peak RSS, castor server (the fetches and the ranges)', `${mib(serverRss)} MiB`, ''],
      ['peak RSS, bare-stream server', `${mib(rawServerRss)} MiB`, ''],
    ]));
  } finally {
    removeDir(dir);
  }
}

await main();
