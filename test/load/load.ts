// Load on one `castor daemon --http` process (issue 20): many fetchers of one blob at once
// over libp2p (in-process client nodes, five fetches each into data dirs of their own),
// and many concurrent narinfo/NAR requests to its Nix binary cache. Every fetch and
// request must complete (verified: the blob read back, each NAR hashed to its NarHash) or
// get a clear busy answer (BUSY, 503) or a 4xx, within a deadline (past it: a hang); the
// daemon's RSS is sampled from /proc all along. `npm run load` runs the full size (50
// fetchers, 200 requests) and prints a table; test/load/load.test.ts runs a small one.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastorNode } from '../../src/node/castor-node.js';
import { NotFoundOnPeersError, RemoteError } from '../../src/node/errors.js';
import { fetchBlob } from '../../src/node/fetch/fetch-blob.js';
import { parseDigest } from '../../src/store/digest.js';
import { dataDir, randomBytes, readBlob } from '../node/node-fixture.js';
import {
  CLI, type CacheDaemon, httpRequest, makePath, type MadePath, narUrlOf, sampler, sha256, smallTree, startCacheDaemon, testNixKey, uploadPath,
} from './cache-daemon.js';

export interface LoadOptions {
  /** Client nodes, and fetches per client (all at once). */
  readonly clients: number;
  readonly perClient: number;
  /** Bytes of the blob fetched. */
  readonly blobBytes: number;
  /** Store paths uploaded, and concurrent requests spread over them (narinfo GET, NAR GET, HEAD). */
  readonly paths: number;
  readonly requests: number;
  /** Largest file in each path's tree (a path's NAR is a few of these). */
  readonly maxFileBytes: number;
  /** A fetch or request not settled within this long is a hang. */
  readonly deadlineMs: number;
  readonly log?: (line: string) => void;
}

export interface Outcomes { ok: number; busy: number; client4xx: number; other: number; hung: number; examples: string[] }

export interface LoadReport {
  readonly fetch: Outcomes & { seconds: number; peakRssMiB: number; baseRssMiB: number };
  readonly http: Outcomes & { seconds: number; peakRssMiB: number; baseRssMiB: number; narBytes: number };
  readonly daemonAlive: boolean;
}

const outcomes = (): Outcomes => ({ ok: 0, busy: 0, client4xx: 0, other: 0, hung: 0, examples: [] });

/** A failure that says the seeder was busy (directly, or as every reason of NOT_FOUND). */
export function isBusy(err: unknown): boolean {
  if (err instanceof RemoteError) return err.remoteCode === 'BUSY';
  return err instanceof NotFoundOnPeersError && err.failures.length > 0 && err.failures.every(isBusy);
}

class Hang extends Error {}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Hang(`${what}: not settled within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? (() => {});
  const root = mkdtempSync(path.join(os.tmpdir(), 'castor-load-'));
  let daemon: CacheDaemon | undefined;
  const clients: CastorNode[] = [];
  try {
    const data = path.join(root, 'daemon');
    const blobFile = path.join(root, 'blob.bin');
    const bytes = randomBytes(o.blobBytes);
    writeFileSync(blobFile, bytes);
    const added = spawnSync(process.execPath, [CLI, 'add', blobFile, '--data-dir', data], { encoding: 'utf8' });
    if (added.status !== 0) throw new Error(`castor add: ${added.stderr}`);
    const digest = parseDigest(added.stdout.trim().split(/\s+/)[0]!);
    const key = testNixKey();
    daemon = await startCacheDaemon(data, ['--trusted-nix-key', key.publicText]);
    const paths: (MadePath & { narUrl: string })[] = [];
    for (let i = 0; i < o.paths; i++) {
      const p = makePath(smallTree(i + 1, 4, o.maxFileBytes), key.secret, `load-${i}`);
      await uploadPath(daemon.url, p);
      const info = await httpRequest(daemon.url, 'GET', `/${p.hashPart}.narinfo`);
      paths.push({ ...p, narUrl: narUrlOf(info.body.toString()) });
    }
    log(`daemon pid ${daemon.pid}: blob of ${o.blobBytes} bytes, ${paths.length} store paths (NARs ${paths.map((p) => p.nar.length).reduce((a, b) => a + b, 0)} bytes in all)`);

    // 1. Fetchers over libp2p.
    const fetch = { ...outcomes(), seconds: 0, peakRssMiB: 0, baseRssMiB: 0 };
    for (let i = 0; i < o.clients; i++) {
      const node = await CastorNode.start(await dataDir(root, `client-${i}`), { listen: [] });
      await node.connect(daemon.address);
      clients.push(node);
    }
    let rss = sampler(daemon.pid, 100);
    fetch.baseRssMiB = rss.samples[0]!.rssKiB / 1024;
    let t0 = performance.now();
    const fetches = await Promise.allSettled(Array.from({ length: o.clients * o.perClient }, async (_, k) => {
      const node = clients[k % o.clients]!;
      const into = await dataDir(root, `fetch-${k}`);
      const peer = node.host.getPeers().find((p) => p.toString() === daemon!.peerId);
      if (peer === undefined) throw new Error('client not connected to the daemon');
      await within(fetchBlob({ host: node.host, data: into }, digest, [peer]), o.deadlineMs, `fetch ${k}`);
      return into;
    }));
    fetch.seconds = (performance.now() - t0) / 1000;
    rss.stop();
    fetch.peakRssMiB = rss.peakRssKiB() / 1024;
    let checked = 0;
    for (const f of fetches) {
      if (f.status === 'fulfilled') {
        // Every completed fetch holds the blob; a few are read back whole and compared.
        const whole = checked++ < 3 ? Buffer.from(await readBlob(f.value, digest)).equals(bytes) : await f.value.blobs.has(digest);
        if (whole) fetch.ok++; else { fetch.other++; fetch.examples.push('a completed fetch does not hold the blob'); }
      } else if (f.reason instanceof Hang) { fetch.hung++; fetch.examples.push(f.reason.message); }
      else if (isBusy(f.reason)) fetch.busy++;
      else { fetch.other++; if (fetch.examples.length < 5) fetch.examples.push(String(f.reason)); }
    }
    log(`fetch: ${JSON.stringify(fetch)}`);
    for (const c of clients.splice(0)) await c.stop();

    // 2. Concurrent narinfo and NAR requests to the binary cache.
    const http = { ...outcomes(), seconds: 0, peakRssMiB: 0, baseRssMiB: 0, narBytes: 0 };
    rss = sampler(daemon.pid, 100);
    http.baseRssMiB = rss.samples[0]!.rssKiB / 1024;
    t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: o.requests }, async (_, k) => {
      const p = paths[k % paths.length]!;
      // Half the requests are NARs (the heavy ones), the rest narinfos and HEADs as Nix sends them.
      const kind = k % 4 === 0 ? 'narinfo' : k % 4 === 1 ? 'head' : 'nar';
      const target = kind === 'narinfo' ? `/${p.hashPart}.narinfo` : p.narUrl;
      const r = await within(httpRequest(daemon!.url, kind === 'head' ? 'HEAD' : 'GET', target, undefined, o.deadlineMs), o.deadlineMs + 1000, `${kind} ${k}`);
      if (r.status === 200 && kind === 'nar') {
        if (!sha256(r.body).equals(Buffer.from(p.narHash))) throw new Error(`NAR ${k} does not hash to its NarHash`);
        http.narBytes += r.body.length;
      }
      if (r.status === 200 && kind === 'narinfo' && !r.body.toString().includes(`StorePath: ${p.storePath}\n`)) throw new Error(`narinfo ${k} names another path`);
      return r.status;
    }));
    http.seconds = (performance.now() - t0) / 1000;
    rss.stop();
    http.peakRssMiB = rss.peakRssKiB() / 1024;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        if (r.value === 200) http.ok++;
        else if (r.value === 503) http.busy++;
        else if (r.value >= 400 && r.value < 500) http.client4xx++;
        else { http.other++; http.examples.push(`status ${r.value}`); }
      } else if (r.reason instanceof Hang || (r.reason as { code?: string }).code === 'ETIMEDOUT') { http.hung++; http.examples.push(String(r.reason)); }
      else { http.other++; if (http.examples.length < 5) http.examples.push(String(r.reason)); }
    }
    log(`http: ${JSON.stringify(http)}`);
    const alive = (await httpRequest(daemon.url, 'GET', '/nix-cache-info', undefined, o.deadlineMs)).status === 200;
    return { fetch, http, daemonAlive: alive };
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined);
    await daemon?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

export function formatLoadTable(o: LoadOptions, r: LoadReport): string {
  const mib = (n: number): string => n.toFixed(0);
  return [
    '| load | at once | completed (verified) | busy | 4xx | other failures | hung | wall s | daemon RSS before / peak MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| fetch of a ${(o.blobBytes / 2 ** 20).toFixed(0)} MiB blob over libp2p (${o.clients} client nodes x ${o.perClient}) | ${o.clients * o.perClient} | ${r.fetch.ok} | ${r.fetch.busy} | - | ${r.fetch.other} | ${r.fetch.hung} | ${r.fetch.seconds.toFixed(1)} | ${mib(r.fetch.baseRssMiB)} / ${mib(r.fetch.peakRssMiB)} |`,
    `| narinfo GET, NAR HEAD, NAR GET over ${o.paths} paths (HTTP) | ${o.requests} | ${r.http.ok} | ${r.http.busy} | ${r.http.client4xx} | ${r.http.other} | ${r.http.hung} | ${r.http.seconds.toFixed(1)} | ${mib(r.http.baseRssMiB)} / ${mib(r.http.peakRssMiB)} |`,
  ].join('\n');
}

/** The full size of issue 20. */
export const FULL: LoadOptions = { clients: 10, perClient: 5, blobBytes: 8 << 20, paths: 20, requests: 200, maxFileBytes: 256 * 1024, deadlineMs: 300_000 };

async function main(): Promise<void> {
  const o: LoadOptions = {
    ...FULL,
    ...(process.env.LOAD_FETCHERS !== undefined && { clients: Math.max(1, Math.ceil(Number(process.env.LOAD_FETCHERS) / FULL.perClient)) }),
    ...(process.env.LOAD_REQUESTS !== undefined && { requests: Number(process.env.LOAD_REQUESTS) }),
    log: (l) => console.log(l),
  };
  console.log(`load: ${o.clients * o.perClient} fetchers of a ${o.blobBytes}-byte blob, then ${o.requests} concurrent narinfo/NAR requests over ${o.paths} paths`);
  const r = await runLoad(o);
  console.log(`\n${formatLoadTable(o, r)}\n`);
  for (const e of [...r.fetch.examples, ...r.http.examples]) console.log(`  ${e}`);
  const held = r.fetch.other === 0 && r.fetch.hung === 0 && r.fetch.ok > 0 && r.http.other === 0 && r.http.hung === 0 && r.http.ok > 0 && r.daemonAlive
    && r.fetch.peakRssMiB < MAX_RSS_MIB && r.http.peakRssMiB < MAX_RSS_MIB;
  console.log(`daemon answering afterwards: ${r.daemonAlive}; RSS bound ${MAX_RSS_MIB} MiB; ${held ? 'held' : 'DID NOT HOLD'}`);
  process.exitCode = held ? 0 : 1;
}

/** The daemon's RSS bound under either load: node, libp2p and the cache take about 100-150 MiB. */
export const MAX_RSS_MIB = 500;

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
