// npm run bench:trust: verify a 100,000-entry Index from scratch (decode the SignedRoot,
// check its signature, hash the Index, scan every entry) and resolve one name, beside
// BLAKE3 of the same Index bytes in the same run (target: under 2x). Then lookups in the
// verified Index, and the CLI's root import and resolve as processes, with peak RSS.
//
// Two Index shapes: Nix-shaped entries (store path names, NixInfo with references, a
// narinfo signature and a deriver: what castor's indexes are for) and bare entries (a
// name and a node only, the smallest entry there is, where fixed costs weigh most).
//
// BENCH_ENTRIES (default 100000), BENCH_RUNS (default 7), BENCH_CLI=0 skips the processes.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '../src/verify/index.js';
import { formatPublicKey, generateKeyPair, parsePublicKey } from '../src/verify/index.js';
import type { Digest } from '../src/store/index.js';
import {
  IndexView, checkRoot, decodeRootBundle, decodeSignedRoot, encodeRootBundle, encodeSignedRoot, scanIndex, signRoot, verifyRootSignature,
} from '../src/store/index.js';
import { castor, median, removeDir, table, tempDir, timed } from './bench-util.js';
import { makeEntries, makeIndex } from './trust-index.js';

const ENTRIES = Number(process.env['BENCH_ENTRIES'] ?? 100_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const CLI = process.env['BENCH_CLI'] !== '0';
const LOOKUPS = 20_000;
const KEY_NAME = 'bench.example-1';

interface Shape { label: string; file: string; nix: boolean }

/** Child mode (`--make FILE nix|bare`): builds a signed bundle, so the parent stays small for the RSS of the processes it times. */
function make(file: string, nix: boolean): void {
  const t0 = performance.now();
  const { bytes } = makeIndex(makeEntries(ENTRIES, nix));
  const pair = generateKeyPair(KEY_NAME);
  const root = signRoot(pair.secret, { indexDigest: blake3(bytes) as Digest, indexSize: BigInt(bytes.length), sequence: 1n, timestamp: 1000n, expires: 0n });
  writeFileSync(file, encodeRootBundle({ root, index: bytes }));
  writeFileSync(`${file}.key`, formatPublicKey(pair.public));
  writeFileSync(`${file}.names`, JSON.stringify(targets(IndexView.scan(bytes), 8).map((n) => new TextDecoder().decode(n))));
  console.log(`${nix ? 'Nix-shaped' : 'bare'}: ${ENTRIES} entries, index ${bytes.length} bytes (${(bytes.length / 2 ** 20).toFixed(1)} MiB, ${(bytes.length / ENTRIES).toFixed(0)} B/entry), built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function ms(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

/** Medians of `a` and `b` over RUNS runs after a warm-up, interleaved so load on the machine hits both alike. */
function interleaved(a: () => unknown, b: () => unknown): [number, number] {
  a(); b();
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < RUNS; i++) { xs.push(ms(a)); ys.push(ms(b)); }
  return [median(xs), median(ys)];
}

/** Names to look up: every 7919th entry of the Index, round and round. */
function targets(view: IndexView, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => view.nameAt((i * 7919 + 1) % view.count));
}

function processRows(shape: Shape, dir: string): string[][] {
  // Names and key from small files: the spawned processes inherit this process's peak RSS, so it must stay small.
  const key = readFileSync(`${shape.file}.key`, 'utf8');
  const names = JSON.parse(readFileSync(`${shape.file}.names`, 'utf8')) as string[];
  const imports: number[] = [];
  const resolves: number[] = [];
  let rssImport = 0;
  let rssResolve = 0;
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    const data = path.join(dir, `data-${i}`);
    const imp = castor(['root', 'import', '--data-dir', data, '--trusted-key', key, shape.file]);
    imports.push(imp.seconds * 1000);
    rssImport = Math.max(rssImport, imp.maxRssKiB ?? 0);
    for (let j = 0; j < 2; j++) {
      const res = castor(['resolve', '--data-dir', data, '--trusted-key', key, `${KEY_NAME}/${names[(2 * i + j) % names.length]}`]);
      resolves.push(res.seconds * 1000);
      rssResolve = Math.max(rssResolve, res.maxRssKiB ?? 0);
    }
    removeDir(data);
  }
  const start = median(Array.from({ length: 3 }, () => timed(process.execPath, ['-e', '0']).seconds * 1000));
  const ref = `node -e 0: ${start.toFixed(0)} ms`;
  return [
    [`${shape.label}: castor root import FILE (process; peak RSS ${(rssImport / 1024).toFixed(0)} MiB)`, median(imports).toFixed(0), ref, '', ''],
    [`${shape.label}: castor resolve KEY/NAME (process; peak RSS ${(rssResolve / 1024).toFixed(0)} MiB)`, median(resolves).toFixed(0), ref, '', ''],
  ];
}

function inProcessRows(shape: Shape): string[][] {
  const bundle = decodeRootBundle(new Uint8Array(readFileSync(shape.file)));
  const index = bundle.index;
  const rootBytes = encodeSignedRoot(bundle.root);
  const ctx = { trusted: [parsePublicKey(readFileSync(`${shape.file}.key`, 'utf8'))], accepted: undefined, now: 2000n };
  const names = targets(IndexView.scan(index), LOOKUPS);
  let next = 0;

  // From scratch: nothing kept between runs but the bytes.
  const fromScratch = (): void => {
    const verdict = checkRoot(decodeSignedRoot(rootBytes), index, ctx);
    if (new IndexView(index, verdict.offsets).lookup(names[next++ % names.length]!) === undefined) throw new Error('name not found');
  };
  const [hash, verify] = interleaved(() => blake3(index), fromScratch);
  const [sig, scan] = interleaved(() => verifyRootSignature(bundle.root), () => scanIndex(index));
  const view = IndexView.scan(index);
  ms(() => { for (const n of names) view.find(n); });
  const findUs = (ms(() => { for (const n of names) view.find(n); }) * 1000) / names.length;
  const lookupUs = (ms(() => { for (const n of names.slice(0, 2000)) view.lookup(n); }) * 1000) / 2000;

  const ref = `BLAKE3 of the same index: ${hash.toFixed(1)} ms`;
  const rss = (process.resourceUsage().maxRSS / 1024).toFixed(0);
  return [
    [`${shape.label}: verify from scratch + resolve one name (peak RSS ${rss} MiB)`, verify.toFixed(1), ref, (verify / hash).toFixed(2), '< 2'],
    [`${shape.label}: of which the signature (tweetnacl)`, sig.toFixed(1), ref, (sig / hash).toFixed(2), ''],
    [`${shape.label}: of which the scan of every entry`, scan.toFixed(1), ref, (scan / hash).toFixed(2), ''],
    [`${shape.label}: then, per lookup by name (find / find + decode entry)`, `${(findUs / 1000).toFixed(4)} / ${(lookupUs / 1000).toFixed(4)}`, ref, '', ''],
  ];
}

function main(): void {
  const dir = tempDir();
  try {
    const self = fileURLToPath(import.meta.url);
    const shapes: Shape[] = [
      { label: 'Nix-shaped', file: path.join(dir, 'nix.root'), nix: true },
      { label: 'bare', file: path.join(dir, 'bare.root'), nix: false },
    ];
    for (const s of shapes) {
      const r = spawnSync(process.execPath, [self, '--make', s.file, s.nix ? 'nix' : 'bare'], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`building the ${s.label} index failed`);
    }
    const rows: string[][] = [];
    if (CLI) for (const s of shapes) rows.push(...processRows(s, dir));
    const inProc: string[][] = [];
    for (const s of shapes) {
      // Each shape in its own process: its own peak RSS, no JIT state from the other.
      const r = spawnSync(process.execPath, [self, '--in-process', s.file, s.label], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (r.status !== 0) throw new Error(`the ${s.label} in-process run failed`);
      inProc.push(...(JSON.parse(r.stdout) as string[][]));
    }
    console.log(`\nIn process (the bundle already read into memory), median of ${RUNS} after a warm-up, verify and hash runs interleaved; peak RSS of that process:\n`);
    console.log(table(['what', 'ms', 'reference (same run)', 'ratio', 'target'], inProc));
    if (CLI) {
      console.log(`\nWhole processes (including node's start-up), median of ${Math.min(RUNS, 3)} imports into fresh data dirs and 2 resolves after each:\n`);
      console.log(table(['what', 'ms', 'reference (same run)', 'ratio', 'target'], rows));
    }
  } finally {
    removeDir(dir);
  }
}

if (process.argv[2] === '--make') make(process.argv[3]!, process.argv[4] === 'nix');
else if (process.argv[2] === '--in-process') console.log(JSON.stringify(inProcessRows({ file: process.argv[3]!, label: process.argv[4]!, nix: false })));
else main();
