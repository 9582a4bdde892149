// Library throughput without process start-up: hashFile, outboardFile and the
// verifying decoder on an open, page-cached file, timed inside this process.

import { open } from 'node:fs/promises';
import { hashFile } from '../src/verify/index.js';
import { closeWorkerPool } from '../src/verify/index.js';
import { CombinedSource, decode, FileReader, outboardFile } from '../src/verify/index.js';
import { median } from './bench-util.js';

export interface InProc {
  hash1: number; hash2: number; ob1: number; ob2: number; decode: number;
}

async function secondsOf(runs: number, f: () => Promise<unknown>): Promise<number> {
  await f(); // warm-up: workers started, code optimised
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    xs.push((performance.now() - t0) / 1000);
  }
  return median(xs);
}

export async function inProcess(file: string, encoded: string, hash: Uint8Array, size: number, runs: number): Promise<InProc> {
  const fh = await open(file, 'r');
  const enc = await open(encoded, 'r');
  try {
    const hash1 = await secondsOf(runs, () => hashFile(fh.fd, size, { threads: 1 }));
    const hash2 = await secondsOf(runs, () => hashFile(fh.fd, size, { threads: 2 }));
    const ob1 = await secondsOf(runs, () => outboardFile(fh.fd, size, 4, { threads: 1 }));
    const ob2 = await secondsOf(runs, () => outboardFile(fh.fd, size, 4, { threads: 2 }));
    const dec = await secondsOf(runs, async () => {
      let n = 0;
      for await (const piece of decode(new CombinedSource(new FileReader(enc)), { hash })) n += piece.length;
      if (n !== size) throw new Error(`decoded ${n} of ${size} bytes`);
    });
    return { hash1, hash2, ob1, ob2, decode: dec };
  } finally {
    await fh.close();
    await enc.close();
    await closeWorkerPool();
  }
}
