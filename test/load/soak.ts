// A soak (issue 20, `npm run soak`, not in npm test): one `castor daemon --http` serves for
// SOAK_MINUTES (default 30) while, in a bounded loop, fetchers take a blob from it over
// libp2p, narinfo/NAR clients read its binary cache, new store paths are PUT into it and
// `castor add` stores files through it. Its RSS and open file descriptors
// (/proc/PID/status, /proc/PID/fd) are sampled every SOAK_SAMPLE_SECONDS (default 5) and
// printed; at the end the medians of the last fifth are compared with the second fifth
// (the first is warm-up): flat when RSS grew by at most 15% + 16 MiB and fds by at most 8.
// Every operation must succeed (or be told busy); the exit status says whether all held.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CastorNode } from '../../src/node/castor-node.js';
import { fetchBlob } from '../../src/node/fetch/fetch-blob.js';
import { parseDigest } from '../../src/store/digest.js';
import { dataDir, randomBytes, removeDir } from '../node/node-fixture.js';
import {
  CLI, httpRequest, makePath, type MadePath, narUrlOf, sampler, sha256, smallTree, startCacheDaemon, testNixKey, uploadPath, windowStats,
} from './cache-daemon.js';
import { isBusy } from './load.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const SAMPLE_SECONDS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 5);
const BLOB_BYTES = 4 << 20;
/** Per round: fetchers at once, HTTP requests at once, paths PUT, files added. */
const FETCHERS = 4;
const REQUESTS = 24;
const PUTS = 2;
const ADDS = 1;
/** A round that takes longer than this is a hang. */
const ROUND_DEADLINE_MS = 300_000;
/** Uploaded paths the clients read from (the newest ones; older ones stay in the store). */
const READ_WINDOW = 16;

interface Counts { rounds: number; fetches: number; fetchBusy: number; requests: number; requestBusy: number; puts: number; adds: number; failures: string[] }

function castorAdd(file: string, data: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'add', file, '--data-dir', data], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'castor-soak-'));
  const data = path.join(root, 'daemon');
  const blobFile = path.join(root, 'blob.bin');
  writeFileSync(blobFile, randomBytes(BLOB_BYTES));
  const added = spawnSync(process.execPath, [CLI, 'add', blobFile, '--data-dir', data], { encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`castor add: ${added.stderr}`);
  const digest = parseDigest(added.stdout.trim().split(/\s+/)[0]!);
  const key = testNixKey('castor-soak-1');
  const daemon = await startCacheDaemon(data, ['--trusted-nix-key', key.publicText]);
  console.log(`soak: ${MINUTES} min, daemon pid ${daemon.pid}, sample every ${SAMPLE_SECONDS} s; per round ${FETCHERS} fetches, ${REQUESTS} narinfo/NAR requests, ${PUTS} PUTs, ${ADDS} add`);
  console.log('  t (s)   RSS (MiB)   fds   rounds');
  const c: Counts = { rounds: 0, fetches: 0, fetchBusy: 0, requests: 0, requestBusy: 0, puts: 0, adds: 0, failures: [] };
  const rss = sampler(daemon.pid, SAMPLE_SECONDS * 1000, (s) => console.log(`  ${s.t.toFixed(0).padStart(5)}   ${(s.rssKiB / 1024).toFixed(1).padStart(9)}   ${String(s.fds).padStart(3)}   ${c.rounds}`));
  const paths: (MadePath & { narUrl: string })[] = [];
  const fail = (what: string): void => { if (c.failures.length < 50) c.failures.push(what); console.log(`FAIL ${what}`); };
  const end = Date.now() + MINUTES * 60_000;
  const client = await CastorNode.start(await dataDir(root, 'client'), { listen: [] });
  try {
    await client.connect(daemon.address);
    let seq = 0;
    while (Date.now() < end && daemon.child.exitCode === null) {
      const round = c.rounds;
      const work: Promise<void>[] = [];
      // New paths, PUT as nix copy --to does.
      for (let i = 0; i < PUTS; i++) {
        const p = makePath(smallTree(++seq, 3, 48 * 1024), key.secret, `soak-${seq}`);
        work.push(uploadPath(daemon.url, p).then(async () => {
          const info = await httpRequest(daemon.url, 'GET', `/${p.hashPart}.narinfo`);
          paths.push({ ...p, narUrl: narUrlOf(info.body.toString()) });
          if (paths.length > READ_WINDOW) paths.shift();
          c.puts++;
        }, (err: unknown) => fail(`PUT of ${p.storePath}: ${String(err)}`)));
      }
      // Fetches of the blob into fresh data dirs, removed afterwards.
      for (let i = 0; i < FETCHERS; i++) {
        work.push((async () => {
          const name = `fetch-${round}-${i}`;
          const into = await dataDir(root, name);
          try {
            const find = (): ReturnType<typeof client.host.getPeers>[number] | undefined => client.host.getPeers().find((x) => x.toString() === daemon.peerId);
            if (find() === undefined) await client.connect(daemon.address);
            const peer = find();
            if (peer === undefined) throw new Error('not connected to the daemon');
            await fetchBlob({ host: client.host, data: into }, digest, [peer]);
            c.fetches++;
          } catch (err: unknown) {
            if (isBusy(err)) c.fetchBusy++;
            else fail(`fetch: ${String(err)}`);
          } finally {
            await removeDir(path.join(root, name));
          }
        })());
      }
      // narinfo, HEAD and NAR reads of the paths held so far.
      for (let i = 0; i < REQUESTS && paths.length > 0; i++) {
        const p = paths[(round * REQUESTS + i) % paths.length]!;
        const kind = i % 3;
        work.push(httpRequest(daemon.url, kind === 1 ? 'HEAD' : 'GET', kind === 0 ? `/${p.hashPart}.narinfo` : p.narUrl, undefined, ROUND_DEADLINE_MS).then((r) => {
          if (r.status === 503) { c.requestBusy++; return; }
          if (r.status !== 200) return fail(`${kind} of ${p.storePath}: ${r.status} ${r.body.toString().trim()}`);
          if (kind === 2 && !sha256(r.body).equals(Buffer.from(p.narHash))) return fail(`NAR of ${p.storePath} does not hash to its NarHash`);
          c.requests++;
        }, (err: unknown) => fail(`request: ${String(err)}`)));
      }
      // Files stored through the daemon (its control socket).
      for (let i = 0; i < ADDS; i++) {
        const f = path.join(root, `add-${round}-${i}`);
        writeFileSync(f, randomBytes(64 * 1024 + round));
        work.push(castorAdd(f, data).then((r) => { rmSync(f, { force: true }); if (r.code === 0) c.adds++; else fail(`castor add: ${r.stderr.trim()}`); }));
      }
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([Promise.all(work).then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ROUND_DEADLINE_MS); })]);
      clearTimeout(timer);
      if (!settled) fail(`round ${round} did not settle within ${ROUND_DEADLINE_MS} ms`);
      c.rounds++;
    }
    if (daemon.child.exitCode !== null) fail(`the daemon exited (${daemon.child.exitCode}):\n${daemon.log().slice(-2000)}`);
  } finally {
    rss.stop();
    await client.stop();
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const s = rss.samples;
  const second = windowStats(s, 0.2, 0.4);
  const last = windowStats(s, 0.8, 1);
  const rssFlat = last.rssKiB <= second.rssKiB * 1.15 + 16 * 1024;
  const fdsFlat = last.fds <= second.fds + 8;
  const min = (k: 'rssKiB' | 'fds'): number => Math.min(...s.map((x) => x[k]));
  const max = (k: 'rssKiB' | 'fds'): number => Math.max(...s.map((x) => x[k]));
  console.log(`\n| soak | minutes | rounds | fetches (busy) | narinfo/NAR requests (busy) | paths PUT | castor add | samples | RSS MiB min / max | RSS median 2nd fifth -> last fifth | fds min / max | fds median 2nd -> last fifth | flat |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(`| daemon --http | ${MINUTES} | ${c.rounds} | ${c.fetches} (${c.fetchBusy}) | ${c.requests} (${c.requestBusy}) | ${c.puts} | ${c.adds} | ${s.length} | ${(min('rssKiB') / 1024).toFixed(0)} / ${(max('rssKiB') / 1024).toFixed(0)} | ${(second.rssKiB / 1024).toFixed(1)} -> ${(last.rssKiB / 1024).toFixed(1)} | ${min('fds')} / ${max('fds')} | ${second.fds} -> ${last.fds} | RSS ${rssFlat ? 'flat' : 'GROWING'}, fds ${fdsFlat ? 'flat' : 'GROWING'} |`);
  console.log(`failures: ${c.failures.length}`);
  for (const f of c.failures) console.log(`  ${f}`);
  process.exitCode = c.failures.length === 0 && rssFlat && fdsFlat ? 0 : 1;
}

await main();
