// Pieces shared by the load, soak, Nix fuzz and chaos runs: a real `castor daemon --http`
// process on 127.0.0.1 (its peer address, cache URL, and /proc samples of its RSS and
// open file descriptors), store paths made up in memory (a NAR from the reference
// encoder of test/store/nix, its narinfo signed with a test Nix key), their upload by
// raw HTTP PUT as `nix copy --to` does it, and bounded HTTP requests.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatNarinfo, signPathInfo, STORE_DIR } from '../../src/store/index.js';
import { formatPublicKey, generateKeyPair, nix32Encode, type SecretKey } from '../../src/verify/index.js';
import { dir, file, link, narOf, pseudoRandom, type NarTree } from '../store/nix/nar-fixture.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(HERE, '../../src/cli/main.js');
const START_TIMEOUT_MS = 120_000;
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';

export interface CacheDaemon {
  readonly child: ChildProcess;
  readonly pid: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Its libp2p address on 127.0.0.1, /p2p/<id> included. */
  readonly address: string;
  readonly peerId: string;
  log(): string;
  /** SIGTERM, SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
  readonly exited: Promise<void>;
}

/** `castor daemon --http 127.0.0.1:0` on `dataDir` (loopback only, no mDNS, no DHT); resolves once it said it started. */
export async function startCacheDaemon(dataDir: string, args: string[] = [], nodeArgs: string[] = []): Promise<CacheDaemon> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'daemon', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-dht', '--http', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = await new Promise<{ url: string; peerId: string; address: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`castor daemon did not start within ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const url = /nix binary cache: (http:\/\/\S+)/u.exec(log);
      const id = / started: peer id (\S+),/u.exec(log);
      const addr = / listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\S*)/u.exec(log);
      if (url !== null && id !== null) {
        clearTimeout(timer);
        const a = addr?.[1] ?? '';
        resolve({ url: url[1]!, peerId: id[1]!, address: a.includes('/p2p/') ? a : `${a}/p2p/${id[1]!}` });
      }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`castor daemon exited before it started:\n${log}`)); });
  });
  return {
    child, pid: child.pid!, ...started, exited,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface ProcSample {
  /** Seconds since the sampler started. */
  readonly t: number;
  readonly rssKiB: number;
  readonly fds: number;
}

/** RSS (VmRSS) and open file descriptors of a running process, from /proc; undefined once it is gone. */
export function procSample(pid: number, t = 0): ProcSample | undefined {
  try {
    const rss = /VmRSS:\s+(\d+) kB/u.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { t, rssKiB: rss === null ? 0 : Number(rss[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** Samples `pid` every `everyMs` until stopped; `peak()` is the largest RSS seen. */
export function sampler(pid: number, everyMs: number, onSample?: (s: ProcSample) => void): { samples: ProcSample[]; peakRssKiB(): number; stop(): void } {
  const samples: ProcSample[] = [];
  const t0 = performance.now();
  const take = (): void => {
    const s = procSample(pid, (performance.now() - t0) / 1000);
    if (s !== undefined) { samples.push(s); onSample?.(s); }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    peakRssKiB: () => samples.reduce((m, s) => Math.max(m, s.rssKiB), 0),
    stop: () => { clearInterval(timer); take(); },
  };
}

/** A Nix key pair for the test: the secret signs narinfos, the public text goes to --trusted-nix-key. */
export function testNixKey(name = 'castor-load-1'): { secret: SecretKey; publicText: string } {
  const pair = generateKeyPair(name);
  return { secret: pair.secret, publicText: formatPublicKey(pair.public) };
}

export interface MadePath {
  readonly storePath: string;
  readonly hashPart: string;
  readonly nar: Uint8Array;
  readonly narHash: Uint8Array;
  /** `nar/<FileHash>.nar`: where it is uploaded (uncompressed, so FileHash = NarHash). */
  readonly uploadUrl: string;
  readonly narinfo: string;
}

/** A random hash part: 32 characters of Nix base32. */
export function randomHashPart(): string {
  return [...randomBytes(32)].map((b) => NIX32[b & 31]).join('');
}

/** A small tree: `files` files of up to `maxFile` bytes (one executable), a symlink, a subdirectory. */
export function smallTree(seed: number, files = 4, maxFile = 64 * 1024): NarTree {
  const entries: Record<string, NarTree> = {};
  for (let i = 0; i < files; i++) entries[`f${i}`] = file(pseudoRandom(1 + ((seed * 7919 + i * 104729) % maxFile), seed + i), i === 0);
  entries['link'] = link('f0');
  entries['sub'] = dir({ '.keep': file('') , 'note': file(`path ${seed}\n`) });
  return dir(entries);
}

/** A store path holding `tree`, with a narinfo signed by `secret` (no references). */
export function makePath(tree: NarTree, secret: SecretKey, name = 'castor-load'): MadePath {
  const nar = narOf(tree);
  const narHash = new Uint8Array(createHash('sha256').update(nar).digest());
  const hashPart = randomHashPart();
  const storePath = `${STORE_DIR}/${hashPart}-${name}`;
  const uploadUrl = `nar/${nix32Encode(narHash)}.nar`;
  const info = signPathInfo({ storePath, narHash, narSize: nar.length, references: [], signatures: [] }, secret);
  const narinfo = formatNarinfo({ ...info, url: uploadUrl, compression: 'none', fileHash: narHash, fileSize: nar.length });
  return { storePath, hashPart, nar, narHash, uploadUrl, narinfo };
}

export interface HttpReply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/**
 * One request on a connection of its own, with a deadline for the whole exchange
 * (rejects with code ETIMEDOUT past it, after destroying the socket).
 */
export function httpRequest(base: string, method: string, target: string, body?: Uint8Array | string, deadlineMs = 60_000, headers: http.OutgoingHttpHeaders = {}): Promise<HttpReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, method, path: target, agent: false,
      headers: { ...headers, ...(body !== undefined && { 'content-length': Buffer.byteLength(body) }) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }); });
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`${method} ${target}: no whole answer within ${deadlineMs} ms`), { code: 'ETIMEDOUT' });
      req.destroy(err);
    }, deadlineMs);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(body);
  });
}

/** Uploads `p` as `nix copy --to` does: the NAR, then its narinfo. Throws unless both are answered 200. */
export async function uploadPath(base: string, p: MadePath, deadlineMs = 120_000): Promise<void> {
  const nar = await httpRequest(base, 'PUT', `/${p.uploadUrl}`, p.nar, deadlineMs, { 'content-type': 'application/x-nix-nar' });
  if (nar.status !== 200) throw new Error(`PUT /${p.uploadUrl}: ${nar.status} ${nar.body.toString().trim()}`);
  const info = await httpRequest(base, 'PUT', `/${p.hashPart}.narinfo`, p.narinfo, deadlineMs, { 'content-type': 'text/x-nix-narinfo' });
  if (info.status !== 200) throw new Error(`PUT /${p.hashPart}.narinfo: ${info.status} ${info.body.toString().trim()}`);
}

/** The served NAR URL a narinfo names. */
export function narUrlOf(narinfo: string): string {
  const m = /^URL: (\S+)$/mu.exec(narinfo);
  if (m === null) throw new Error(`no URL in narinfo:\n${narinfo}`);
  return `/${m[1]!}`;
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Median of the samples' RSS (KiB) and fds in the [from, to) fraction of the run. */
export function windowStats(samples: readonly ProcSample[], from: number, to: number): { rssKiB: number; fds: number; n: number } {
  const part = samples.slice(Math.floor(samples.length * from), Math.max(Math.floor(samples.length * from) + 1, Math.floor(samples.length * to)));
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0; };
  return { rssKiB: median(part.map((s) => s.rssKiB)), fds: median(part.map((s) => s.fds)), n: part.length };
}
