// node dist/bench/fetch-pipeline.js: the fetch client's own work on a blob, without the
// network or a server: a combined bao encoding held in memory runs through the verifying
// decoder, is gathered into 1 MiB runs and handed to a PartialBlob (writeVerified) and the
// InOrderFeeder's store writer as the swarm fetch does with a single peer, and the blob is
// published. Prints wall time and this process's CPU time (user, system) per run and their
// medians. On a shared 2-core machine bench:net's MB/s move by 2x with load from
// elsewhere; the user CPU time of this pipeline moves by about 5%, so it can tell a
// change to the client's per-byte work from noise. BENCH_SIZE_MIB and BENCH_RUNS set the
// size (256) and the runs (5).

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { InOrderFeeder } from '../src/node/index.js';
import { Pipeline } from '../src/node/index.js';
import { openDataDir } from '../src/store/index.js';
import { asDigest, digestEquals } from '../src/store/index.js';
import { PartialBlob } from '../src/store/index.js';
import { BytesReader, decode, encodeBytes, outboardOf, sliceSource } from '../src/verify/index.js';
import { median, removeDir, tempDir } from './bench-util.js';

const SIZE = Number(process.env['BENCH_SIZE_MIB'] ?? 256) << 20;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
/** The swarm fetch's gather size and writes in flight (swarm-fetch.ts). */
const GATHER = 1 << 20;
const WRITES_IN_FLIGHT = 2;

interface Sample {
  seconds: number;
  user: number;
  system: number;
}

async function once(dir: string, encoded: Uint8Array, digest: Uint8Array, outboard: Uint8Array): Promise<Sample> {
  const data = await openDataDir(dir, { create: true });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const partial = await PartialBlob.begin(data, asDigest(digest), SIZE, outboard);
  const feeder = new InOrderFeeder(partial, data);
  const writes = new Pipeline(WRITES_IN_FLIGHT);
  let buf = new Uint8Array(GATHER);
  let fill = 0;
  let at = 0;
  const write = async (): Promise<void> => {
    const run = buf.subarray(0, fill);
    const offered = feeder.offer(at, run, true);
    const written = partial.writeVerified(at, run);
    written.then(() => feeder.poke(), () => undefined);
    await writes.add(written);
    await offered;
    at += fill;
    buf = new Uint8Array(GATHER);
    fill = 0;
  };
  for await (const piece of decode(sliceSource(new BytesReader(encoded)), { hash: digest, groupLog: 4 })) {
    for (let off = 0; off < piece.length;) {
      const n = Math.min(piece.length - off, GATHER - fill);
      buf.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === GATHER) await write();
    }
  }
  if (fill > 0) await write();
  await writes.drain();
  const stored = await feeder.finish();
  await partial.abort();
  const cpu = process.cpuUsage(c0);
  if (!digestEquals(stored, asDigest(digest))) throw new Error('the pipeline stored another digest');
  return { seconds: (performance.now() - t0) / 1000, user: cpu.user / 1e6, system: cpu.system / 1e6 };
}

async function main(): Promise<void> {
  const dir = tempDir();
  try {
    const content = randomBytes(SIZE);
    const { outboard } = outboardOf(content, 4);
    const { hash, encoded } = await encodeBytes(content, 4);
    const samples: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Data dirs stay until the end: creating files right after thousands were deleted is slow here (see bench:store).
      const s = await once(path.join(dir, `run-${i}`), encoded, hash, outboard);
      samples.push(s);
      console.log(`run ${i + 1}/${RUNS}: ${s.seconds.toFixed(2)} s, CPU user ${s.user.toFixed(2)} s, system ${s.system.toFixed(2)} s`);
    }
    const m = (f: (s: Sample) => number): string => median(samples.map(f)).toFixed(2);
    console.log(`\n${SIZE >> 20} MiB through decoder, partial and store writer, median of ${RUNS}: ${m((s) => s.seconds)} s wall, CPU user ${m((s) => s.user)} s, system ${m((s) => s.system)} s`);
  } finally {
    removeDir(dir);
  }
}

await main();
