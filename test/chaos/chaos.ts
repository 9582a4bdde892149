// Crash loops: castor processes SIGKILLed at random moments during add, gc, publish,
// fetch, `castor nix import` and an HTTP PUT of a NAR and its narinfo into
// `castor daemon --http` (the daemon is killed), each kill followed by `castor fsck`
// (must find the store consistent) and a check that everything reported as stored
// before the kill still reads back identical (trees by `castor get`, store paths by
// `castor nix export`, byte for byte the NAR that was imported or uploaded);
// a killed fetch, run again, asks the peer only for the groups it had not kept. Then a
// byte flipped in a random file of the data dir: detected by fsck or by the read, never
// served as content. `npm run chaos -- N` runs N kills; test/chaos/chaos.test.ts runs a
// few in npm test. Traffic stays on 127.0.0.1.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, symlinkSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type ServerProcess } from '../node/node-fixture.js';
import { type CacheDaemon, httpRequest, makePath, type MadePath, smallTree, startCacheDaemon, testNixKey, uploadPath } from '../load/cache-daemon.js';
import { dir as narDir, file as narFile, pseudoRandom } from '../store/nix/nar-fixture.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(HERE, '../../src/cli/main.js');

export type Operation = 'add' | 'gc' | 'publish' | 'fetch' | 'nix-import' | 'http-put';
export const OPERATIONS: readonly Operation[] = ['add', 'gc', 'publish', 'fetch', 'nix-import', 'http-put'];
/** Store paths made for nix import and HTTP PUT, and the largest file in each (a NAR is a few of them). */
const NIX_PATHS = 8;
const NIX_MAX_FILE = 1536 * 1024;

export interface ChaosOptions {
  kills: number;
  seed: number;
  /** Byte flips after the kill loop. */
  flips: number;
  log?: (line: string) => void;
}

export interface OperationCount { runs: number; killed: number; finished: number; fsckClean: number; readsHeld: number }

export interface ChaosReport {
  seed: number;
  operations: Record<Operation, OperationCount>;
  /** Killed fetches run again: bytes the peer served the second run, and the missing bytes it needed. */
  resumes: { resumedBytes: number; missingBytes: number }[];
  flips: { file: string; detected: 'fsck' | 'read' | 'harmless' }[];
  failures: string[];
}

/** mulberry32: a small seeded generator, so a run replays from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function castorSync(args: string[], dataDir: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args, '--data-dir', dataDir], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a castor command and SIGKILLs it after `killAfterMs` unless it finished first. */
function castorKilled(args: string[], dataDir: string, killAfterMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout, stderr }); });
  });
}

/** A source tree of a few MiB: files of many sizes, shared content, an executable, a symlink. */
function makeTree(dir: string, seed: number): void {
  const next = rng(seed);
  mkdirSync(path.join(dir, 'sub', 'deep'), { recursive: true });
  const shared = randomBytes(300_000);
  for (let i = 0; i < 40; i++) {
    const size = Math.floor(next() ** 3 * 600_000);
    const where = path.join(dir, i % 3 === 0 ? 'sub' : i % 5 === 0 ? 'sub/deep' : '.', `f${i}`);
    writeFileSync(where, i % 7 === 0 ? Buffer.concat([shared, randomBytes(size % 5000)]) : randomBytes(size));
  }
  writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(path.join(dir, 'run.sh'), 0o755);
  symlinkSync('sub/f0', path.join(dir, 'link'));
}

function sameTree(a: string, b: string): boolean {
  return spawnSync('diff', ['-r', '--no-dereference', a, b]).status === 0;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile() && statSync(p).size > 0) out.push(p);
  }
  return out;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const next = rng(options.seed);
  const root = mkdtempSync(path.join(os.tmpdir(), 'castor-chaos-'));
  const report: ChaosReport = {
    seed: options.seed,
    operations: Object.fromEntries(OPERATIONS.map((o) => [o, { runs: 0, killed: 0, finished: 0, fsckClean: 0, readsHeld: 0 }])) as Record<Operation, OperationCount>,
    resumes: [],
    flips: [],
    failures: [],
  };
  const fail = (what: string): void => { report.failures.push(what); log(`FAIL ${what}`); };
  let server: ServerProcess | undefined;
  let cache: CacheDaemon | undefined;
  try {
    const data = path.join(root, 'data');
    // Store paths for nix import and HTTP PUT: NAR and narinfo files, signed by a key the data dir trusts.
    const nixKey = testNixKey('chaos-nix-1');
    const nixPaths: (MadePath & { narFile: string; narinfoFile: string })[] = [];
    for (let i = 0; i < NIX_PATHS; i++) {
      const p = makePath(smallTree(options.seed + i, 4, NIX_MAX_FILE), nixKey.secret, `chaos-${i}`);
      const narFile = path.join(root, `path-${i}.nar`);
      const narinfoFile = path.join(root, `path-${i}.narinfo`);
      writeFileSync(narFile, p.nar);
      writeFileSync(narinfoFile, p.narinfo);
      nixPaths.push({ ...p, narFile, narinfoFile });
    }
    // Store paths reported stored: store path -> its NAR file.
    const storedNix = new Map<string, string>();
    const keys = path.join(root, 'keys');
    mkdirSync(keys);
    castorSync(['key', 'generate', 'chaos-1', '--out', keys], data);
    // What was reported stored: digest -> source tree it must read back as.
    const stored = new Map<string, string>();
    const trees: string[] = [];
    for (let i = 0; i < 4; i++) {
      const t = path.join(root, `src${i}`);
      mkdirSync(t);
      makeTree(t, options.seed + i);
      trees.push(t);
    }
    // The seeder for fetches: its own data dir, serving one large blob.
    const seedData = path.join(root, 'seeder');
    const big = path.join(root, 'big.bin');
    writeFileSync(big, randomBytes(24 << 20));
    const added = castorSync(['add', big, '--json'], seedData);
    const bigDigest = (JSON.parse(added.stdout.trim().split('\n')[0]!) as { digest: string }).digest;
    server = await startServer(seedData);
    // One tree stored before any kill, so every operation has something to lose.
    const first = castorSync(['add', trees[0]!], data);
    if (first.status !== 0) throw new Error(`castor add: ${first.stderr}`);
    stored.set(first.stdout.trim().split(/\s+/)[0]!, trees[0]!);
    // And one store path, so nix import and HTTP PUT have one to lose too.
    const firstNix = castorSync(['nix', 'import', nixPaths[0]!.narFile, '--narinfo', nixPaths[0]!.narinfoFile, '--trusted-nix-key', nixKey.publicText], data);
    if (firstNix.status !== 0) throw new Error(`castor nix import: ${firstNix.stderr}`);
    storedNix.set(nixPaths[0]!.storePath, nixPaths[0]!.narFile);

    for (let k = 0; k < options.kills; k++) {
      // Each operation in turn, so a short run still covers them all; the moment is random.
      const op = OPERATIONS[k % OPERATIONS.length]!;
      const count = report.operations[op];
      count.runs++;
      // Start-up alone takes a few hundred ms: some runs finish, most die part way.
      // nix import and a daemon taking a PUT start slower (a key, a daemon): a longer window.
      const killAfter = Math.floor(100 + next() * (op === 'nix-import' || op === 'http-put' ? 8000 : 4000));
      let run: Run;
      let before = 0;
      if (op === 'add') {
        const src = trees[Math.floor(next() * trees.length)]!;
        run = await castorKilled(['add', src], data, killAfter);
        if (run.status === 0) stored.set(run.stdout.trim().split(/\s+/)[0]!, src);
      } else if (op === 'gc') {
        run = await castorKilled(['gc', '--grace', '0'], data, killAfter);
      } else if (op === 'publish') {
        const [digest] = [...stored.keys()];
        if (digest === undefined) { count.runs--; continue; }
        run = await castorKilled(['publish', '--key', path.join(keys, 'chaos-1.secret'), `name${k}=${digest}`], data, killAfter);
      } else if (op === 'fetch') {
        before = (await server.served()).served.total;
        run = await castorKilled(['fetch', bigDigest, '--peer', server.address], data, killAfter);
      } else if (op === 'nix-import') {
        const p = nixPaths[Math.floor(next() * nixPaths.length)]!;
        run = await castorKilled(['nix', 'import', p.narFile, '--narinfo', p.narinfoFile, '--trusted-nix-key', nixKey.publicText], data, killAfter);
        if (run.status === 0) storedNix.set(p.storePath, p.narFile);
      } else {
        // The daemon takes the upload; it is the process killed, at a random moment of the PUTs.
        const p = nixPaths[Math.floor(next() * nixPaths.length)]!;
        cache = await startCacheDaemon(data, ['--trusted-nix-key', nixKey.publicText]);
        run = await putKilled(cache, p, killAfter);
        cache = undefined;
        if (run.status === 0) storedNix.set(p.storePath, p.narFile);
      }
      // A fetched blob is not pinned (gc would rightly take it): pin it, as a user who keeps it does.
      const keepFetched = (): void => {
        const pin = castorSync(['pin', 'add', bigDigest], data);
        if (pin.status !== 0) fail(`pin add after fetch: ${pin.stderr.trim()}`);
        stored.set(bigDigest, big);
      };
      const killed = run.signal === 'SIGKILL';
      if (killed) count.killed++; else count.finished++;
      if (!killed && run.status !== 0) fail(`${op} exited ${run.status} without a kill: ${run.stderr.trim()}`);
      log(`${k}: ${op} ${killed ? `killed at ${killAfter} ms` : `finished (${run.status})`}`);

      const fsck = castorSync(['fsck', '--tmp-age', '1h'], data);
      if (fsck.status === 0) count.fsckClean++;
      else fail(`fsck after ${op} (${killed ? 'killed' : 'finished'}) exit ${fsck.status}: ${fsck.stdout.trim()} ${fsck.stderr.trim()}`);

      if (op === 'fetch' && killed) {
        const missing = missingBytes(data, bigDigest);
        const servedBefore = (await server.served()).served.total;
        const again = castorSync(['fetch', bigDigest, '--peer', server.address], data);
        const resumed = (await server.served()).served.total - servedBefore;
        if (again.status !== 0) fail(`fetch run again after a kill failed: ${again.stderr.trim()}`);
        report.resumes.push({ resumedBytes: resumed, missingBytes: missing });
        // Groups in flight at the kill were kept or not; either way a resumed fetch asks
        // for what is missing, plus at most a little proof overhead (parents per range).
        if (resumed > missing * 1.05 + 65_536) fail(`resumed fetch took ${resumed} bytes where ${missing} were missing`);
        keepFetched();
      } else if (op === 'fetch' && run.status === 0) {
        keepFetched();
      }
      void before;

      let held = true;
      for (const [digest, src] of stored) {
        const out = path.join(root, `out-${k}`);
        const got = castorSync(['get', digest, out], data);
        if (got.status !== 0 || !sameTree(src, out)) { held = false; fail(`${digest} (from ${src}) no longer reads back after ${op}: ${got.stderr.trim()}`); }
        rmSync(out, { recursive: true, force: true });
      }
      for (const [storePath, narFile] of storedNix) {
        const out = path.join(root, `nar-${k}`);
        const got = castorSync(['nix', 'export', storePath, out], data);
        if (got.status !== 0 || !readFileSync(out).equals(readFileSync(narFile))) { held = false; fail(`${storePath} no longer exports as its NAR after ${op}: ${got.stderr.trim()}`); }
        rmSync(out, { force: true });
      }
      if (held) count.readsHeld++;
    }

    for (let f = 0; f < options.flips; f++) report.flips.push(flipOne(data, root, stored, next, fail, log, storedNix));
  } finally {
    if (cache !== undefined) { cache.child.kill('SIGKILL'); await cache.exited; }
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return report;
}

/**
 * PUTs `p` (NAR, then narinfo) into the running cache daemon and SIGKILLs the daemon
 * `killAfterMs` after the upload began; status 0 when both PUTs were answered 200 before
 * the kill, signal SIGKILL when the kill came first.
 */
async function putKilled(cache: CacheDaemon, p: MadePath, killAfterMs: number): Promise<Run> {
  const done: { status: number | null; stderr: string } = { status: null, stderr: '' };
  const upload = uploadPath(cache.url, p).then(() => { done.status = 0; }, (err: unknown) => { done.status ??= 1; done.stderr = String(err); });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([upload, new Promise((r) => { timer = setTimeout(r, killAfterMs); })]);
  clearTimeout(timer);
  const finished = done.status;
  cache.child.kill('SIGKILL');
  await cache.exited;
  await upload;
  if (finished === null) return { status: null, signal: 'SIGKILL', stdout: '', stderr: '' };
  return { status: finished, signal: null, stdout: '', stderr: finished === 0 ? '' : `${done.stderr}\n${cache.log().slice(-1000)}` };
}

/** Bytes of `digest` the data dir does not hold yet, from its partial download if any. */
function missingBytes(data: string, digest: string): number {
  const r = spawnSync(process.execPath, [path.join(HERE, 'partial-missing.js'), data, digest], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`partial-missing: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Flips one byte of a random non-empty file in the data dir, on a copy, and asks fsck and a read. */
function flipOne(data: string, root: string, stored: Map<string, string>, next: () => number, fail: (w: string) => void, log: (l: string) => void, storedNix = new Map<string, string>()): ChaosReport['flips'][number] {
  const copy = path.join(root, 'flip');
  rmSync(copy, { recursive: true, force: true });
  spawnSync('cp', ['-a', data, copy]);
  // tmp/ and lock files hold nothing a read trusts.
  const files = filesUnder(copy).filter((f) => !/\.lock$|^tmp\//.test(path.relative(copy, f)));
  const file = files[Math.floor(next() * files.length)]!;
  const bytes = readFileSync(file);
  const at = Math.floor(next() * bytes.length);
  bytes[at] ^= 1 << Math.floor(next() * 8);
  writeFileSync(file, bytes);
  const rel = path.relative(copy, file);
  let servedBad = false;
  let readFailed = false;
  for (const [digest, src] of stored) {
    const out = path.join(root, 'flip-out');
    const got = castorSync(['get', digest, out], copy);
    if (got.status === 0 && !sameTree(src, out)) servedBad = true;
    if (got.status !== 0) readFailed = true;
    rmSync(out, { recursive: true, force: true });
  }
  // A store path's NAR, exported from the damaged copy, is either refused or the exact NAR.
  for (const [storePath, narFile] of storedNix) {
    const out = path.join(root, 'flip-nar');
    const got = castorSync(['nix', 'export', storePath, out], copy);
    if (got.status === 0 && !readFileSync(out).equals(readFileSync(narFile))) servedBad = true;
    if (got.status !== 0) readFailed = true;
    rmSync(out, { force: true });
  }
  const fsck = castorSync(['fsck', '--dry-run'], copy);
  rmSync(copy, { recursive: true, force: true });
  const detected = fsck.status !== 0 ? 'fsck' : readFailed ? 'read' : 'harmless';
  if (servedBad) fail(`a flipped byte in ${rel} at ${at} was served as content`);
  log(`flip ${rel} @${at}: ${detected}`);
  return { file: rel.replace(/[0-9a-f]{64}/g, '<hex>').replace(/\/[0-9a-f]{2}\//g, '/<xx>/'), detected };
}

export interface FullDiskReport {
  skipped?: string; addError: string; fetchError: string; fsckClean: boolean; storedReadBack: boolean;
  /** `castor nix import` of a NAR larger than the disk: its one line. */
  nixImportError: string;
  /** An HTTP PUT of such a NAR into the daemon: its answer; and whether the daemon served nix-cache-info afterwards. */
  httpPutAnswer: string;
  daemonServedAfter: boolean;
}

/**
 * A data dir on a 16 MiB tmpfs: a small tree is stored, then an HTTP PUT of a 20 MiB NAR
 * into `castor daemon --http`, a larger add, a fetch and a `castor nix import` run out of
 * space. The PUT must be refused with a 4xx (the daemon still serving), the others end in
 * one `castor:` line and a non-zero exit; fsck must find the store consistent, and the
 * small tree must still read back. Needs root (mount).
 */
export async function runFullDisk(seed: number): Promise<FullDiskReport> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'castor-full-'));
  const mnt = path.join(root, 'mnt');
  mkdirSync(mnt);
  if (process.getuid?.() !== 0 || spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'castor-chaos', mnt]).status !== 0) {
    rmSync(root, { recursive: true, force: true });
    return { skipped: 'needs root to mount a small tmpfs', addError: '', fetchError: '', fsckClean: false, storedReadBack: false, nixImportError: '', httpPutAnswer: '', daemonServedAfter: false };
  }
  let server: ServerProcess | undefined;
  try {
    const data = path.join(mnt, 'data');
    const small = path.join(root, 'small');
    mkdirSync(small);
    writeFileSync(path.join(small, 'a'), randomBytes(200_000));
    writeFileSync(path.join(small, 'b'), 'b\n');
    const first = castorSync(['add', small], data);
    if (first.status !== 0) throw new Error(`castor add of the small tree: ${first.stderr}`);
    const digest = first.stdout.trim().split(/\s+/)[0]!;
    // A store path whose NAR (20 MiB of one file) is larger than the disk: first by HTTP PUT
    // into a daemon started while there was room (a daemon cannot start on a full disk:
    // one castor: line), later by nix import.
    const nixKey = testNixKey('full-nix-1');
    const bigPath = (n: number): MadePath => makePath(narDir({ big: narFile(pseudoRandom(20 << 20, seed + n)), small: narFile('x\n') }), nixKey.secret, `full-disk-${n}`);
    let httpPutAnswer = '';
    let daemonServedAfter = false;
    const cache = await startCacheDaemon(data, ['--trusted-nix-key', nixKey.publicText]);
    try {
      await uploadPath(cache.url, bigPath(2)).then(() => { httpPutAnswer = '200 (stored on a full disk?)'; }, (err: unknown) => { httpPutAnswer = err instanceof Error ? err.message : String(err); });
      daemonServedAfter = (await httpRequest(cache.url, 'GET', '/nix-cache-info', undefined, 30_000)).status === 200;
    } finally {
      await cache.stop();
    }
    const large = path.join(root, 'large');
    mkdirSync(large);
    makeTree(large, seed);
    writeFileSync(path.join(large, 'huge'), randomBytes(24 << 20));
    const add = castorSync(['add', large], data);
    const seedData = path.join(root, 'seeder');
    const big = path.join(root, 'big.bin');
    writeFileSync(big, randomBytes(24 << 20));
    const bigDigest = castorSync(['add', big], seedData).stdout.trim().split(/\s+/)[0]!;
    server = await startServer(seedData);
    const fetch = castorSync(['fetch', bigDigest, '--peer', server.address], data);
    const imported = bigPath(1);
    writeFileSync(path.join(root, 'big.nar'), imported.nar);
    writeFileSync(path.join(root, 'big.narinfo'), imported.narinfo);
    const nixImport = castorSync(['nix', 'import', path.join(root, 'big.nar'), '--narinfo', path.join(root, 'big.narinfo'), '--trusted-nix-key', nixKey.publicText], data);
    const fsck = castorSync(['fsck', '--tmp-age', '0'], data);
    const out = path.join(root, 'out');
    const got = castorSync(['get', digest, out], data);
    const oneLine = (r: Run): string => (r.status !== 0 && /^castor: [^\n]+\n?$/.test(r.stderr) ? r.stderr.trim() : `exit ${r.status}, stderr: ${JSON.stringify(r.stderr.slice(0, 400))}`);
    return {
      addError: oneLine(add), fetchError: oneLine(fetch), fsckClean: fsck.status === 0, storedReadBack: got.status === 0 && sameTree(small, out),
      nixImportError: oneLine(nixImport), httpPutAnswer, daemonServedAfter,
    };
  } finally {
    await server?.stop();
    spawnSync('umount', [mnt]);
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const kills = Number(process.argv[2] ?? 40);
  const seed = Number(process.env.CHAOS_SEED ?? (Date.now() >>> 0));
  console.log(`chaos: ${kills} kills, seed ${seed} (replay: CHAOS_SEED=${seed})`);
  const report = await runChaos({ kills, seed, flips: Number(process.env.CHAOS_FLIPS ?? 30), log: (l) => console.log(l) });
  console.log('\n| operation | runs | killed | finished | fsck clean after | all stored data read back |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [op, c] of Object.entries(report.operations)) console.log(`| ${op} | ${c.runs} | ${c.killed} | ${c.finished} | ${c.fsckClean} | ${c.readsHeld} |`);
  const r = report.resumes;
  console.log(`\nresumed fetches: ${r.length}; bytes served on resume / bytes missing: ${r.map((x) => `${x.resumedBytes}/${x.missingBytes}`).join(', ') || '-'}`);
  const by = new Map<string, number>();
  for (const f of report.flips) by.set(f.detected, (by.get(f.detected) ?? 0) + 1);
  console.log(`byte flips: ${report.flips.length} (${[...by].map(([k, v]) => `${k} ${v}`).join(', ')}); served as content: ${report.failures.filter((f) => f.includes('served as content')).length}`);
  const full = await runFullDisk(seed);
  if (full.skipped) console.log(`full disk: skipped (${full.skipped})`);
  else {
    console.log(`full disk: add -> ${full.addError}; fetch -> ${full.fetchError}; nix import -> ${full.nixImportError}; HTTP PUT -> ${full.httpPutAnswer.slice(0, 300)}; daemon served after ${full.daemonServedAfter}; fsck clean ${full.fsckClean}; stored tree read back ${full.storedReadBack}`);
    if (!full.fsckClean || !full.storedReadBack || !full.addError.startsWith('castor:') || !full.fetchError.startsWith('castor:') || !full.nixImportError.startsWith('castor:')
      || !/: 4\d\d /u.test(full.httpPutAnswer) || !full.daemonServedAfter) report.failures.push('full disk: see the line above');
  }
  console.log(`failures: ${report.failures.length}`);
  for (const f of report.failures) console.log(`  ${f}`);
  process.exitCode = report.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
