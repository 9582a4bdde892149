// The daemon's control endpoint: how a running daemon claims its data dir, where it
// listens for the CLI, and how the CLI finds it and talks to it.
//
// In the data dir:
//   daemon.json  the claim, created exclusively (mode 0600): {"pid", "started", and once
//                listening "endpoint": {"socket": PATH} or {"host", "port", "token"}}.
//                One daemon per data dir; a claim whose pid is dead is stale and replaced.
//   daemon.sock  the unix socket (mode 0600) when the path fits a socket address;
//                otherwise (or with CASTOR_DAEMON_TCP=1) 127.0.0.1 on a free port, every
//                request carrying "Authorization: Bearer <token>" from daemon.json.
// The protocol is HTTP/1.1 with JSON bodies (see src/cli/daemon-client.ts for the routes).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { link, open, readFile, rename, rm, stat, chmod } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { CastorError } from '../verify/index.js';

export const DAEMON_STATE_FILE = 'daemon.json';
export const DAEMON_SOCKET_FILE = 'daemon.sock';
/** Longest unix socket path used; sun_path is 108 bytes on Linux, 104 on macOS. */
export const MAX_SOCKET_PATH_BYTES = 100;
/** Largest request body the daemon reads. */
export const MAX_CONTROL_BODY = 1 << 20;
/** How long a starting daemon (claim without an endpoint) is waited for. */
const STARTING_WAIT_MS = 3000;

export type Endpoint =
  | { readonly socket: string }
  | { readonly host: string; readonly port: number; readonly token: string };

export interface DaemonState {
  readonly pid: number;
  readonly started: string;
  readonly endpoint?: Endpoint;
}

/** Another daemon holds the data dir. */
export class DaemonRunningError extends CastorError {
  constructor(readonly pid: number, dataDir: string, detail = '') {
    super('DAEMON_RUNNING', `a castor daemon (pid ${pid}) already runs on ${dataDir}${detail}`, pid);
  }
}

/** A command that needs a daemon found none. */
export class NoDaemonError extends CastorError {
  constructor(dataDir: string, what: string) {
    super('NO_DAEMON', `no castor daemon runs on ${dataDir}: ${what} (start one with: castor daemon --data-dir ${dataDir})`, dataDir);
  }
}

/** The daemon answered with an error, or went away mid-answer. */
export class ControlError extends CastorError {
  constructor(detail: string, readonly status?: number, options?: { cause?: unknown }) {
    super('CONTROL_ERROR', `daemon: ${detail}`, status, options);
  }
}

export function statePath(dataDir: string): string {
  return path.join(dataDir, DAEMON_STATE_FILE);
}

export function socketPath(dataDir: string): string {
  return path.join(dataDir, DAEMON_SOCKET_FILE);
}

/** Whether process `pid` exists (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** daemon.json as written, or undefined if absent or not (yet) a whole claim. */
export async function readDaemonState(dataDir: string): Promise<DaemonState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(dataDir), 'utf8');
  } catch (err: unknown) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    if (typeof j['pid'] !== 'number') return undefined;
    const e = j['endpoint'] as Record<string, unknown> | undefined;
    let endpoint: Endpoint | undefined;
    if (e && typeof e['socket'] === 'string') endpoint = { socket: e['socket'] };
    else if (e && typeof e['host'] === 'string' && typeof e['port'] === 'number' && typeof e['token'] === 'string') {
      endpoint = { host: e['host'], port: e['port'], token: e['token'] };
    }
    return { pid: j['pid'], started: String(j['started'] ?? ''), ...(endpoint && { endpoint }) };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The data dir, claimed by this process until release(). */
export interface DaemonClaim {
  /** Records where the daemon listens (replaces daemon.json atomically). */
  publish(endpoint: Endpoint): Promise<void>;
  /** Removes daemon.json if it is still this process's claim. */
  release(): Promise<void>;
}

/**
 * Claims `dataDir` for this process's daemon. A claim held by a live daemon that answers
 * `probe` (or one still starting) is DAEMON_RUNNING; a claim whose process is gone is
 * stale: it is removed (logged through `log`) and the claim taken.
 */
export async function claimDataDir(dataDir: string, probe: (endpoint: Endpoint) => Promise<boolean>, log: (line: string) => void): Promise<DaemonClaim> {
  const file = statePath(dataDir);
  const started = new Date().toISOString();
  const deadline = Date.now() + STARTING_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify({ pid: process.pid, started })}\n`);
      } finally {
        await fh.close();
      }
      return claim(dataDir, started);
    } catch (err: unknown) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    let ino: number;
    try {
      ino = (await stat(file)).ino;
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') continue;
      throw err;
    }
    const held = await readDaemonState(dataDir);
    if (held !== undefined && pidAlive(held.pid) && held.pid !== process.pid) {
      if (held.endpoint !== undefined && (await probe(held.endpoint))) throw new DaemonRunningError(held.pid, dataDir);
      if (Date.now() < deadline) {
        await sleep(100);
        continue;
      }
      throw new DaemonRunningError(held.pid, dataDir, held.endpoint === undefined
        ? ' (still starting)'
        : `, but it does not answer; if no castor daemon has that pid, remove ${file}`);
    }
    if (held === undefined && Date.now() < deadline) {
      // Being written right now, or garbage: give a writer its moment first.
      await sleep(100);
      continue;
    }
    // Stale: move it aside, and make sure what was moved is the file judged stale (another
    // starter may have replaced it in between; then put that one back).
    const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await rename(file, aside);
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') continue;
      throw err;
    }
    if ((await stat(aside)).ino !== ino) {
      await link(aside, file).catch(() => undefined);
      await rm(aside, { force: true });
      continue;
    }
    await rm(aside, { force: true });
    log(`removed the stale claim of pid ${held?.pid ?? '?'} (${file})`);
  }
}

function claim(dataDir: string, started: string): DaemonClaim {
  const file = statePath(dataDir);
  return {
    async publish(endpoint) {
      const temp = `${file}.${process.pid}.tmp`;
      const fh = await open(temp, 'w', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify({ pid: process.pid, started, endpoint })}\n`);
      } finally {
        await fh.close();
      }
      await rename(temp, file);
    },
    async release() {
      const held = await readDaemonState(dataDir).catch(() => undefined);
      if (held?.pid === process.pid) await rm(file, { force: true });
    },
  };
}

export interface ControlServer {
  readonly endpoint: Endpoint;
  close(): Promise<void>;
}

/**
 * Serves `handler` on the data dir's socket (any leftover socket file is removed first:
 * the caller holds the claim), or on 127.0.0.1 with a bearer token when the socket path
 * is too long, on Windows, or with `tcp`. `log` hears about a replaced stale socket.
 */
export async function listenControl(dataDir: string, handler: http.RequestListener, options: { tcp?: boolean; log?: (line: string) => void } = {}): Promise<ControlServer> {
  const sock = socketPath(dataDir);
  const useTcp = options.tcp === true || process.platform === 'win32' || Buffer.byteLength(sock) > MAX_SOCKET_PATH_BYTES;
  if (!useTcp) {
    const leftover = await stat(sock).then(() => true, () => false);
    if (leftover) {
      await rm(sock, { force: true });
      options.log?.(`replaced a stale socket ${sock}`);
    }
    const server = http.createServer(handler);
    await listen(server, (s) => s.listen(sock));
    await chmod(sock, 0o600);
    return { endpoint: { socket: sock }, close: () => closeServer(server, sock) };
  }
  const token = randomBytes(32).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  const server = http.createServer((req, res) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: 'missing or wrong token' })}\n`);
      return;
    }
    handler(req, res);
  });
  await listen(server, (s) => s.listen(0, '127.0.0.1'));
  const port = (server.address() as { port: number }).port;
  return { endpoint: { host: '127.0.0.1', port, token }, close: () => closeServer(server) };
}

function listen(server: http.Server, start: (s: http.Server) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start(server);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(server: http.Server, sock?: string): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  if (sock !== undefined) await rm(sock, { force: true });
}

function requestOptions(endpoint: Endpoint, method: string, route: string, body?: string): http.RequestOptions {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  if ('socket' in endpoint) return { socketPath: endpoint.socket, method, path: route, headers };
  return { host: endpoint.host, port: endpoint.port, method, path: route, headers: { ...headers, authorization: `Bearer ${endpoint.token}` } };
}

/** Whether a request error means nobody listens there (a stale socket or port). */
export function isNotListening(err: unknown): boolean {
  const code = errno(err);
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'ENOTSOCK';
}

/** Sends one request; resolves with the response (status and stream) once its head arrives. */
export function controlRequest(endpoint: Endpoint, method: string, route: string, body?: unknown, signal?: AbortSignal): Promise<http.IncomingMessage> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ ...requestOptions(endpoint, method, route, text), ...(signal && { signal }) }, resolve);
    req.on('error', reject);
    req.end(text);
  });
}

/** A whole JSON response; a non-2xx status is a ControlError with the daemon's message. */
export async function controlJson(endpoint: Endpoint, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await controlRequest(endpoint, method, route, body);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new ControlError(`answered ${res.statusCode} with something that is not JSON`, res.statusCode, { cause: err });
  }
  if ((res.statusCode ?? 500) >= 300) throw new ControlError(String((json as { error?: unknown }).error ?? `status ${res.statusCode}`), res.statusCode);
  return json;
}

/** Reads a JSON request body, at most MAX_CONTROL_BODY bytes. */
export async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_CONTROL_BODY) throw new ControlError(`request body over ${MAX_CONTROL_BODY} bytes`, 413);
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err: unknown) {
    throw new ControlError('request body is not JSON', 400, { cause: err });
  }
}
