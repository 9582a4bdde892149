// Decode speed of castor's NAR decompression (src/store/nix/decompress.ts) against the
// Debian tools' own decode (`xz -dc`, `zstd -dc`, `bzip2 -dc` to /dev/null), in one run, on
// one 150 MiB sample of real files (a tar of /usr/lib/x86_64-linux-gnu and /usr/share).
//
//   npx tsc -p . --outDir .dist-X && node .dist-X/bench/decompress.js [DIR]
//
// DIR (default $TMPDIR/castor-bench-decompress) keeps the sample and its compressed
// forms between runs: making them takes minutes (xz -6 alone about 1 MB/s on 2 busy cores).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Compression, decompress } from '../src/store/nix/index.js';

const SAMPLE_BYTES = 150 * 1024 * 1024;
const dir = process.argv[2] ?? path.join(os.tmpdir(), 'castor-bench-decompress');
const src = path.join(dir, 'src.bin');
const FILES: Record<Exclude<Compression, 'none'>, { file: string; make: string; tool?: string }> = {
  xz: { file: 'src.xz', make: 'xz -6 -T1 -c', tool: 'xz -dc' },
  zstd: { file: 'src.zst', make: 'zstd -q -3 -c', tool: 'zstd -dc' },
  bzip2: { file: 'src.bz2', make: 'bzip2 -9 -c', tool: 'bzip2 -dc' },
  br: { file: 'src.br', make: 'node -e "process.stdin.pipe(require(\'zlib\').createBrotliCompress({params:{[require(\'zlib\').constants.BROTLI_PARAM_QUALITY]:5}})).pipe(process.stdout)" <' },
};

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}`);
}

function prepare(): void {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(src)) sh(`tar cf - /usr/lib/x86_64-linux-gnu /usr/share 2>/dev/null | head -c ${SAMPLE_BYTES} > '${src}'`);
  for (const f of Object.values(FILES)) {
    const out = path.join(dir, f.file);
    if (!existsSync(out)) sh(`${f.make} '${src}' > '${out}.tmp' && mv '${out}.tmp' '${out}'`);
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

async function castor(c: Compression, file: string, want: string): Promise<number> {
  const h = createHash('sha256');
  const t0 = process.hrtime.bigint();
  for await (const piece of decompress(c, createReadStream(file, { highWaterMark: 1 << 16 }))) h.update(piece);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (h.digest('hex') !== want) throw new Error(`${c}: output differs from the sample`);
  return s;
}

function tool(cmd: string, file: string): number {
  const t0 = process.hrtime.bigint();
  sh(`${cmd} '${file}' > /dev/null`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

prepare();
const want = await sha256File(src);
const size = statSync(src).size;
const mbs = (s: number): string => (size / 1e6 / s).toFixed(1);
console.log(`sample ${(size / 1048576).toFixed(0)} MiB, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${os.cpus().length} cores`);
console.log('| format | compressed MiB | castor decompress() MB/s | tool MB/s | castor / tool |');
console.log('| --- | --- | --- | --- | --- |');
for (const [c, f] of Object.entries(FILES) as [Exclude<Compression, 'none'>, typeof FILES['xz']][]) {
  const file = path.join(dir, f.file);
  const ours = await castor(c, file, want);
  const theirs = f.tool === undefined ? undefined : tool(f.tool, file);
  console.log(`| ${c} | ${(statSync(file).size / 1048576).toFixed(1)} | ${mbs(ours)} | ${theirs === undefined ? '-' : `${mbs(theirs)} (${f.tool})`} | ${theirs === undefined ? '-' : (theirs / ours).toFixed(2)} |`);
}
