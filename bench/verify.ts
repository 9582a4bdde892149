// npm run bench:verify: castor's hashing, outboard building and verified decoding
// beside b3sum (one thread and all) and node's sha256, on the same 256 MiB file in
// one run, medians of several; then peak RSS while streaming a 1 GiB file.

import { createReadStream, openSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { inProcess } from './verify-inproc.js';
import { castor, hasCommand, makeFile, mbps, median, removeDir, repeat, table, tempDir, timed } from './bench-util.js';

const SIZE = Number(process.env['BENCH_SIZE_MIB'] ?? 256) << 20;
const BIG = Number(process.env['BENCH_BIG_MIB'] ?? 1024) << 20;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);

async function sha256Seconds(file: string): Promise<number> {
  const t0 = performance.now();
  const h = createHash('sha256');
  for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(piece as Buffer);
  h.digest();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'input');
    console.log(`making a ${SIZE >> 20} MiB input in ${dir} ...`);
    makeFile(file, SIZE);
    timed('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] }); // page cache

    const rows: string[][] = [];
    const b3 = hasCommand('b3sum');
    const b3one = b3 ? repeat(RUNS, () => timed('b3sum', ['--num-threads', '1', file])).seconds : NaN;
    const b3all = b3 ? repeat(RUNS, () => timed('b3sum', [file])).seconds : NaN;
    const sha: number[] = [];
    for (let i = 0; i < RUNS; i++) sha.push(await sha256Seconds(file));
    const shaS = median(sha);

    const ratio = (s: number, ref: number): string => (Number.isNaN(ref) ? 'n/a' : (ref / s).toFixed(2));
    const hash1 = repeat(RUNS, () => castor(['hash', '--threads', '1', file]));
    const hash2 = repeat(RUNS, () => castor(['hash', file]));
    const ob = path.join(dir, 'input.obao');
    const ob1 = repeat(RUNS, () => castor(['bao', 'encode', '--threads', '1', file, '--outboard', ob]));
    const ob2 = repeat(RUNS, () => castor(['bao', 'encode', file, '--outboard', ob]));
    const enc = path.join(dir, 'input.bao');
    castor(['bao', 'encode', file, enc]);
    const hex = castor(['hash', '--no-names', file]).stdout.trim();
    const dec = repeat(RUNS, () => castor(['bao', 'decode', hex, enc, '/dev/null']));

    const lib = await inProcess(file, enc, Uint8Array.from(Buffer.from(hex, 'hex')), SIZE, RUNS);
    const ref1 = `b3sum --num-threads 1: ${mbps(SIZE, b3one)} MB/s`;
    const libRows = [
      ['hashFile, 1 thread', mbps(SIZE, lib.hash1), ref1, ratio(lib.hash1, b3one), '>= 0.4'],
      ['hashFile, 2 threads', mbps(SIZE, lib.hash2), ref1, ratio(lib.hash2, b3one), '>= 0.7'],
      ['outboardFile G=4, 1 thread', mbps(SIZE, lib.ob1), ref1, ratio(lib.ob1, b3one), '>= 0.4'],
      ['outboardFile G=4, 2 threads', mbps(SIZE, lib.ob2), ref1, ratio(lib.ob2, b3one), '>= 0.7'],
      ['decode combined G=4 (verified)', mbps(SIZE, lib.decode), '1000 MB/s (target)', (SIZE / lib.decode / 1e9).toFixed(2), '>= 1.0'],
      ['node sha256 (same file, streamed)', mbps(SIZE, shaS), ref1, ratio(shaS, b3one), ''],
    ];
    console.log(`\nIn process (library calls on an open, page-cached file; no process start-up), ${SIZE >> 20} MiB, median of ${RUNS} after a warm-up:\n`);
    console.log(table(['what', 'MB/s', 'reference (same run)', 'ratio', 'target'], libRows));
    rows.push(['castor hash, 1 thread', mbps(SIZE, hash1.seconds), ref1, ratio(hash1.seconds, b3one), '>= 0.4']);
    rows.push(['castor hash, 2 threads', mbps(SIZE, hash2.seconds), ref1, ratio(hash2.seconds, b3one), '>= 0.7']);
    rows.push(['outboard G=4, 1 thread', mbps(SIZE, ob1.seconds), ref1, ratio(ob1.seconds, b3one), '>= 0.4']);
    rows.push(['outboard G=4, 2 threads', mbps(SIZE, ob2.seconds), ref1, ratio(ob2.seconds, b3one), '>= 0.7']);
    rows.push(['verified decode, combined G=4', mbps(SIZE, dec.seconds), '1000 MB/s (target)', (SIZE / dec.seconds / 1e9).toFixed(2), '>= 1.0']);
    rows.push(['b3sum, all threads', b3 ? mbps(SIZE, b3all) : 'n/a', ref1, ratio(b3all, b3one), '']);
    rows.push(['node sha256 (in process)', mbps(SIZE, shaS), ref1, ratio(shaS, b3one), '']);
    console.log(`\nWhole CLI processes (node start-up, module load and workers included), ${SIZE >> 20} MiB, median of ${RUNS}, MB/s = 10^6 bytes/s:\n`);
    console.log(table(['what', 'MB/s', 'reference (same run)', 'ratio', 'target'], rows));
    console.log(`\npeak RSS over those runs: hash ${(hash2.maxRssKiB / 1024).toFixed(0)} MiB, outboard ${(ob2.maxRssKiB / 1024).toFixed(0)} MiB, decode ${(dec.maxRssKiB / 1024).toFixed(0)} MiB`);

    removeDir(dir);
    const dir2 = tempDir();
    try {
      const big = path.join(dir2, 'big');
      console.log(`\nmaking a ${BIG >> 20} MiB input for the memory check ...`);
      makeFile(big, BIG);
      const bigHex = castor(['hash', '--no-names', big]).stdout.trim();
      const bigEnc = path.join(dir2, 'big.bao');
      const encR = castor(['bao', 'encode', big, bigEnc]);
      const hashR = castor(['hash', big]);
      const stdinR = castor(['hash'], {}, { stdio: [openIn(big), 'pipe', 'pipe'] });
      const decR = castor(['bao', 'decode', bigHex, bigEnc, '/dev/null']);
      const decStdin = castor(['bao', 'decode', bigHex], {}, { stdio: [openIn(bigEnc), 'ignore', 'pipe'] });
      const mib = (r: { maxRssKiB?: number }): string => ((r.maxRssKiB ?? 0) / 1024).toFixed(0);
      console.log(`\npeak RSS with a ${BIG >> 20} MiB input (target < 100 MiB):`);
      console.log(table(['what', 'peak RSS MiB'], [
        ['castor hash FILE (2 threads)', mib(hashR)],
        ['castor hash < FILE (stream)', mib(stdinR)],
        ['castor bao encode FILE OUT (G=4)', mib(encR)],
        ['castor bao decode HASH ENC /dev/null', mib(decR)],
        ['castor bao decode HASH < ENC > /dev/null (stream)', mib(decStdin)],
      ]));
    } finally {
      removeDir(dir2);
    }
  } finally {
    removeDir(dir);
  }
}

/** A plain fd, so the child reads the file itself as its stdin. */
function openIn(file: string): number {
  return openSync(file, 'r');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
