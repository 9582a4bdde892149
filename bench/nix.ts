// npm run bench:nix: castor as a Nix binary cache against the caches Nix users have, with
// real Nix 2.8 in a private env (test/support/nix-env.ts), on a closure of BENCH_NIX_MIB
// (default 512) MiB in many files (copies of /usr/lib and /usr/share, `nix-store --add`
// in BENCH_NIX_PATHS parts). Medians of BENCH_RUNS (3), contenders interleaved:
//   push:       nix copy --to castor (?compression=none) | file://DIR?compression=none | nginx (WebDAV PUT, none)
//   substitute: nix copy --from castor | nginx static, uncompressed | nginx static, xz (xz -1 of the same NARs)
//   store size: after the closure and a second version with 5% of its files changed:
//               castor's data dir | the static cache's files (none and xz)
// nginx (Debian) runs from a config in the bench's temp dir on 127.0.0.1, started and
// stopped here by pid. Everything stays on loopback.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { CLI, hasCommand, median, removeDir, table, tempDir } from './bench-util.js';
import { makeNixEnv, type NixEnv } from '../test/support/nix-env.js';
import { nix32Encode } from '../src/verify/index.js';

const MIB = 1 << 20;
const SIZE = Number(process.env['BENCH_NIX_MIB'] ?? 512) * MIB;
const PARTS = Number(process.env['BENCH_NIX_PATHS'] ?? 8);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const SOURCES = ['/usr/lib', '/usr/share'];
/** Regular files larger than this are skipped (one huge file would make it "many files" in name only). */
const MAX_FILE = 64 * MIB;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Copies regular files and symlinks from SOURCES into PARTS dirs under `dest` until `size` bytes. */
function gatherTree(dest: string, size: number): { files: number; bytes: number; list: string[] } {
  let bytes = 0;
  let files = 0;
  const list: string[] = [];
  const parts = Array.from({ length: PARTS }, (_, i) => path.join(dest, `part${i}`));
  for (const p of parts) mkdirSync(p, { recursive: true });
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (bytes >= size) return;
      const from = path.join(dir, name);
      const st = lstatSync(from, { throwIfNoEntry: false });
      if (st === undefined) continue;
      const relName = path.join(rel, name);
      if (st.isDirectory()) walk(from, relName);
      else if ((st.isFile() && st.size <= MAX_FILE) || st.isSymbolicLink()) {
        const to = path.join(parts[files % PARTS]!, relName);
        mkdirSync(path.dirname(to), { recursive: true });
        try {
          cpSync(from, to, { verbatimSymlinks: true });
        } catch {
          continue; // unreadable: skipped
        }
        files++;
        if (st.isFile()) {
          bytes += st.size;
          list.push(to);
        }
      }
    }
  };
  for (const s of SOURCES) walk(s, path.basename(s));
  return { files, bytes, list };
}

interface Timed { seconds: number }

async function timedNix(env: NixEnv, args: string[]): Promise<Timed> {
  const t0 = performance.now();
  await env.ok('nix', args, 1800);
  return { seconds: (performance.now() - t0) / 1000 };
}

/** A castor daemon with --http on a fresh data dir; stop() ends it by its pid. */
async function startCastor(dataDir: string, trustedKeyFile: string): Promise<{ url: string; stop: () => Promise<void>; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-dht', '--http', '127.0.0.1:0', '--trusted-nix-key', trustedKeyFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const m = /nix binary cache: (http:\/\/\S+)/u.exec(log);
      if (m !== null && / started: peer id /u.test(log)) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`castor daemon exited:\n${log}`)));
  });
  return { url, proc, stop: async () => { proc.kill('SIGTERM'); await exited; } };
}

/** nginx serving `root` on 127.0.0.1 with WebDAV PUT, config and logs in `dir`. */
async function startNginx(dir: string, root: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, `user root;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  sendfile on;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar xz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    client_max_body_size 0;
    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }
  }
}
`);
  const proc = spawn('nginx', ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // Ready once it accepts a connection.
  for (let i = 0; i < 100 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 100));
  return { url: `http://127.0.0.1:${port}`, stop: async () => { proc.kill('SIGQUIT'); await exited; } };
}

/**
 * An xz binary cache made from the uncompressed one `from`: each NAR not yet in `to`
 * compressed with `xz -1 -T0`, its narinfo rewritten (URL, Compression, FileHash,
 * FileSize; the signed fields unchanged). Returns the seconds it took.
 */
function xzCache(from: string, to: string): number {
  const t0 = performance.now();
  mkdirSync(path.join(to, 'nar'), { recursive: true });
  writeFileSync(path.join(to, 'nix-cache-info'), readFileSync(path.join(from, 'nix-cache-info')));
  for (const name of readdirSync(from).filter((n) => n.endsWith('.narinfo'))) {
    if (existsSync(path.join(to, name))) continue;
    const text = readFileSync(path.join(from, name), 'utf8');
    const url = /^URL: (\S+)$/mu.exec(text)![1]!;
    const tmp = path.join(to, 'nar', 'tmp.xz');
    const r = spawnSync('sh', ['-c', 'xz -1 -T0 -c "$0" > "$1"', path.join(from, url), tmp]);
    if (r.status !== 0) throw new Error(`xz ${url}: ${r.stderr.toString()}`);
    const file = readFileSync(tmp);
    const fileHash = nix32Encode(createHash('sha256').update(file).digest());
    const xzUrl = `nar/${fileHash}.nar.xz`;
    renameSync(tmp, path.join(to, xzUrl));
    const out = text.replace(/^URL: .*$/mu, `URL: ${xzUrl}`).replace(/^Compression: .*$/mu, 'Compression: xz')
      .replace(/^FileHash: .*$/mu, `FileHash: sha256:${fileHash}`).replace(/^FileSize: .*$/mu, `FileSize: ${file.length}`);
    writeFileSync(path.join(to, name), out);
  }
  return (performance.now() - t0) / 1000;
}

function du(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0]);
}

const fmt = (s: number): string => `${s.toFixed(1)} s`;
const ratio = (a: number, b: number): string => (a / b).toFixed(2);

async function main(): Promise<void> {
  if (!hasCommand('nix') || !hasCommand('nginx')) {
    console.log('bench:nix needs nix (nix-bin) and nginx (nginx-light); skipped');
    return;
  }
  const dir = tempDir();
  const env = await makeNixEnv();
  const started: { stop: () => Promise<void> }[] = [];
  try {
    console.log(`bench:nix, ${new Date().toISOString()}: gathering ${SIZE / MIB} MiB from ${SOURCES.join(', ')}`);
    const src = path.join(dir, 'src');
    const tree = gatherTree(src, SIZE);
    const add = async (root: string): Promise<string[]> => {
      const out: string[] = [];
      for (const p of readdirSync(root).sort()) out.push((await env.ok('nix-store', ['--store', env.store, '--add', path.join(root, p)], 1800)).trim());
      return out;
    };
    const v1 = await add(src);
    const narBytes = (await env.pathInfo(v1)).reduce((n, i) => n + i.narSize, 0);
    console.log(`closure: ${v1.length} paths, ${tree.files} files, ${(tree.bytes / MIB).toFixed(0)} MiB of file data, NARs ${(narBytes / MIB).toFixed(0)} MiB`);

    // Push, interleaved.
    const push: Record<string, number[]> = { castor: [], file: [], nginx: [] };
    let castorData = '';
    let castorUrl = '';
    for (let i = 0; i < RUNS; i++) {
      castorData = path.join(dir, `castor-${i}`);
      const c = await startCastor(castorData, env.publicKeyFile);
      push['castor']!.push((await timedNix(env, ['copy', '--store', env.store, '--to', `${c.url}?compression=none`, ...v1])).seconds);
      if (i < RUNS - 1) await c.stop();
      else { started.push(c); castorUrl = c.url; }
      const fileDir = path.join(dir, `file-${i}`);
      push['file']!.push((await timedNix(env, ['copy', '--store', env.store, '--to', `file://${fileDir}?compression=none`, ...v1])).seconds);
      const nroot = path.join(dir, `nginx-root-${i}`);
      mkdirSync(nroot, { recursive: true });
      const n = await startNginx(path.join(dir, `nginx-${i}`), nroot);
      push['nginx']!.push((await timedNix(env, ['copy', '--store', env.store, '--to', `${n.url}?compression=none`, ...v1])).seconds);
      await n.stop();
    }
    // The static caches substitution reads: uncompressed (the last file:// push) and xz (Nix's default).
    const staticNone = path.join(dir, `file-${RUNS - 1}`);
    const staticXz = path.join(dir, 'file-xz');
    const xzMade = xzCache(staticNone, staticXz);
    const nginxNone = await startNginx(path.join(dir, 'nginx-none'), staticNone);
    const nginxXz = await startNginx(path.join(dir, 'nginx-xz'), staticXz);
    started.push(nginxNone, nginxXz);

    const subst: Record<string, number[]> = { castor: [], none: [], xz: [] };
    const trust = ['--option', 'trusted-public-keys', env.publicKey];
    for (let i = 0; i < RUNS; i++) {
      for (const [k, url] of [['castor', castorUrl], ['none', nginxNone.url], ['xz', nginxXz.url]] as const) {
        const client = await env.fresh();
        try {
          subst[k]!.push((await timedNix(client, ['copy', '--from', url, '--to', client.store, ...trust, ...v1])).seconds);
        } finally {
          await client.cleanup();
        }
      }
    }

    // Second version: 5% of the files changed (a few bytes appended), pushed to castor and to the static caches.
    const changed = tree.list.filter((_, i) => i % 20 === 0);
    for (const f of changed) writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.from(`\nchanged ${f}\n`)]));
    const beforeCastor = du(castorData);
    const beforeNone = du(staticNone);
    const beforeXz = du(staticXz);
    const v2 = await add(src);
    await env.ok('nix', ['copy', '--store', env.store, '--to', `${castorUrl}?compression=none`, ...v2], 1800);
    await env.ok('nix', ['copy', '--store', env.store, '--to', `file://${staticNone}?compression=none`, ...v2], 1800);
    xzCache(staticNone, staticXz);
    const afterCastor = du(castorData);
    const afterNone = du(staticNone);
    const afterXz = du(staticXz);

    const m = (xs: number[]): number => median(xs);
    const mb = (b: number): string => `${(b / MIB).toFixed(0)} MiB`;
    const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(1)}%`;
    console.log(`\nruns: ${RUNS}; every figure a median; ${(narBytes / MIB).toFixed(0)} MiB of NAR in ${v1.length} paths, ${tree.files} files\n`);
    console.log(table(['what', 'castor', 'reference', 'ratio'], [
      ['push: nix copy --to (compression=none)', fmt(m(push['castor']!)), `file://?compression=none ${fmt(m(push['file']!))}`, ratio(m(push['castor']!), m(push['file']!))],
      ['push', fmt(m(push['castor']!)), `nginx WebDAV PUT, none ${fmt(m(push['nginx']!))}`, ratio(m(push['castor']!), m(push['nginx']!))],
      ['substitute: nix copy --from', fmt(m(subst['castor']!)), `nginx static, uncompressed ${fmt(m(subst['none']!))}`, ratio(m(subst['castor']!), m(subst['none']!))],
      ['substitute', fmt(m(subst['castor']!)), `nginx static, xz ${fmt(m(subst['xz']!))}`, ratio(m(subst['castor']!), m(subst['xz']!))],
      ['store after v1', mb(beforeCastor), `static none ${mb(beforeNone)}, xz ${mb(beforeXz)}`, ratio(beforeCastor, beforeNone)],
      [`store added by v2 (${changed.length} files changed)`, `${mb(afterCastor - beforeCastor)} (${pct(afterCastor - beforeCastor, beforeCastor)})`,
        `static none +${mb(afterNone - beforeNone)} (${pct(afterNone - beforeNone, beforeNone)}), xz +${mb(afterXz - beforeXz)} (${pct(afterXz - beforeXz, beforeXz)})`, ''],
    ]));
    console.log(`\nThe xz cache is the uncompressed one with each NAR put through \`xz -1 -T0\` (${xzMade.toFixed(0)} s; Nix's own level 6 took 200 s for 51 MiB on this loaded machine); xz decodes at about the same speed at every level.`);
    console.log(`\nraw seconds: push ${JSON.stringify(push)}, substitute ${JSON.stringify(subst)}`);
  } finally {
    for (const s of started) await s.stop().catch(() => undefined);
    await env.cleanup();
    spawnSync('chmod', ['-R', 'u+w', dir]);
    removeDir(dir);
  }
}

await main();
