// The CLI's side of a running daemon: finding it through the data dir, sending it a
// command to run (add, fetch, publish, share) with the answer printed exactly as the
// direct path prints it, and, inside the daemon, the context those commands run in.
//
// Control API (HTTP/1.1 over <data>/daemon.sock, JSON bodies):
//   GET  /v1/id       {"peer_id", "addresses", "pid", "data_dir"}
//   GET  /v1/peers    {"peers": [{"peer_id", "addresses"}]}
//   POST /v1/connect  {"address"} -> {"peer_id"}
//   POST /v1/run      {"command", "argv"} -> NDJSON lines {"out"} {"err"} ... {"exit"}
// Errors: a non-2xx status with {"error"}.
//
// Commands run in the daemon's process, so paths in their arguments are made absolute
// here first (the daemon has its own working directory), per command (ARGS below).

import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveDataDir } from '../store/index.js';
import { ControlError, NoDaemonError, controlJson, controlRequest, isNotListening, pidAlive, readDaemonState, type Endpoint } from '../node/index.js';
import type { CastorNode } from '../node/index.js';
import type { Io } from './cli-io.js';

/** What a command running inside the daemon can use. */
export interface DaemonContext {
  readonly node: CastorNode;
  /** Aborted when the client goes away or the daemon stops. */
  readonly signal: AbortSignal;
  /** One line to the daemon's log. */
  readonly log: (line: string) => void;
}

const context = new AsyncLocalStorage<DaemonContext>();

/** The daemon's context when called from a command the daemon runs; undefined in a plain CLI process. */
export function daemonContext(): DaemonContext | undefined {
  return context.getStore();
}

/** Runs `fn` with `ctx` as the daemon context (the daemon, for each request). */
export function withDaemonContext<T>(ctx: DaemonContext, fn: () => Promise<T>): Promise<T> {
  return context.run(ctx, fn);
}

/** How each routed command's arguments are read: options that take a value, and which of them are paths. */
interface ArgSpec {
  readonly values: readonly string[];
  /** Options whose value is a file path. */
  readonly paths: readonly string[];
  /** Options whose value is key text or a file: made absolute only if such a file exists here. */
  readonly maybePaths: readonly string[];
  /** Positionals that are paths ('all', or their indexes); none of these commands reads '-' as stdio. */
  readonly positionalPaths: 'all' | readonly number[];
  /** A positional that may be KEY/NAME with KEY a key file. */
  readonly keyName?: number;
}

const ARGS: Record<string, ArgSpec> = {
  add: { values: ['jobs', 'data-dir'], paths: [], maybePaths: [], positionalPaths: 'all' },
  share: { values: ['jobs', 'data-dir'], paths: [], maybePaths: [], positionalPaths: 'all' },
  publish: { values: ['key', 'remove', 'expires', 'data-dir', 'trusted-key'], paths: ['key'], maybePaths: ['trusted-key'], positionalPaths: [] },
  fetch: { values: ['peer', 'data-dir', 'trusted-key'], paths: [], maybePaths: ['trusted-key'], positionalPaths: [1], keyName: 0 },
};

/** The commands a daemon runs for the CLI. */
export const DAEMON_COMMANDS = Object.keys(ARGS);

/** The data dir `argv` names (--data-dir, else the environment's), absolute. */
export function dataDirOf(argv: readonly string[]): string {
  let flag: string | undefined;
  try {
    const { tokens } = parseArgs({ args: [...argv], options: { 'data-dir': { type: 'string' } }, strict: false, allowPositionals: true, tokens: true });
    for (const t of tokens) if (t.kind === 'option' && t.name === 'data-dir' && typeof t.value === 'string') flag = t.value;
  } catch {
    // A malformed command line: the command's own parse will say so.
  }
  return resolveDataDir(flag);
}

/**
 * `argv` rebuilt with paths absolute (against `cwd`) and --data-dir set to `dataDir`
 * first, and each path made absolute with the text it was given, so the answer can
 * name paths as the user wrote them.
 */
export function absoluteArgv(command: string, argv: readonly string[], dataDir: string, cwd = process.cwd()): { argv: string[]; renames: [string, string][] } {
  const spec = ARGS[command];
  if (spec === undefined) throw new Error(`no argument spec for ${command}`);
  const options = Object.fromEntries([...spec.values.map((v) => [v, { type: 'string' as const }]), ['help', { type: 'boolean' as const, short: 'h' }]]);
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out = ['--data-dir', dataDir];
  const positionals: string[] = [];
  const renames = new Map<string, string>();
  const absolute = (given: string): string => {
    const abs = path.resolve(cwd, given);
    if (abs !== given) renames.set(abs, given);
    return abs;
  };
  for (const t of tokens) {
    if (t.kind === 'option') {
      if (t.name === 'data-dir') continue;
      if (t.value === undefined) {
        out.push(t.rawName);
        continue;
      }
      let v = t.value;
      if (spec.paths.includes(t.name) || (spec.maybePaths.includes(t.name) && existsSync(path.resolve(cwd, v)))) v = absolute(v);
      out.push(`--${t.name}=${v}`);
    } else if (t.kind === 'positional') {
      const i = positionals.length;
      let v = t.value;
      if (spec.positionalPaths === 'all' || spec.positionalPaths.includes(i)) v = absolute(v);
      else if (i === spec.keyName) {
        const slash = v.lastIndexOf('/');
        if (slash > 0 && existsSync(path.resolve(cwd, v.slice(0, slash)))) v = `${absolute(v.slice(0, slash))}${v.slice(slash)}`;
      }
      positionals.push(v);
    }
  }
  // Longest first, so a path inside another given path is put back whole.
  return { argv: [...out, '--', ...positionals], renames: [...renames].sort((a, b) => b[0].length - a[0].length) };
}

/** `text` with each absolute path put back as given (also inside JSON strings). */
export function restorePaths(text: string, renames: readonly [string, string][]): string {
  for (const [abs, given] of renames) {
    text = text.split(abs).join(given);
    const jsonAbs = JSON.stringify(abs).slice(1, -1);
    if (jsonAbs !== abs) text = text.split(jsonAbs).join(JSON.stringify(given).slice(1, -1));
  }
  return text;
}

/** Where the daemon of `dataDir` listens, or undefined when none runs (no claim, a dead pid, or still starting). */
export async function daemonEndpoint(dataDir: string): Promise<Endpoint | undefined> {
  const state = await readDaemonState(dataDir);
  if (state?.endpoint === undefined || !pidAlive(state.pid)) return undefined;
  return state.endpoint;
}

/**
 * The two-line hook at the top of add, fetch, publish and share:
 *   const viaDaemon = await runViaDaemon('add', argv, io);
 *   if (viaDaemon !== undefined) return viaDaemon;
 * Runs the command in the data dir's daemon and returns its exit status, having printed
 * its output; undefined (run it here) when no daemon runs, inside the daemon itself, for
 * --help, and with CASTOR_NO_DAEMON=1.
 */
export async function runViaDaemon(command: string, argv: readonly string[], io: Io): Promise<number | undefined> {
  if (daemonContext() !== undefined || process.env['CASTOR_NO_DAEMON'] === '1') return undefined;
  if (argv.some((a) => a === '--help' || a === '-h')) return undefined;
  const dataDir = dataDirOf(argv);
  const endpoint = await daemonEndpoint(dataDir);
  if (endpoint === undefined) return undefined;
  const { argv: sent, renames } = absoluteArgv(command, argv, dataDir);
  let res;
  try {
    res = await controlRequest(endpoint, 'POST', '/v1/run', { command, argv: sent });
  } catch (err: unknown) {
    if (isNotListening(err)) return undefined; // a stale claim: work on the store directly
    throw err;
  }
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    let msg = Buffer.concat(chunks).toString('utf8');
    try {
      msg = String((JSON.parse(msg) as { error?: unknown }).error ?? msg);
    } catch {
      // not JSON: print it as it came
    }
    throw new ControlError(msg.trim(), res.statusCode);
  }
  let exit: number | undefined;
  let pending = '';
  const line = (text: string): void => {
    if (text === '') return;
    const m = JSON.parse(text) as { out?: string; err?: string; exit?: number };
    if (typeof m.out === 'string') io.out(restorePaths(m.out, renames));
    if (typeof m.err === 'string') io.err(restorePaths(m.err, renames));
    if (typeof m.exit === 'number') exit = m.exit;
  };
  try {
    for await (const chunk of res) {
      pending += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        line(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    }
    line(pending);
  } catch (err: unknown) {
    throw new ControlError(`connection lost while running ${command}`, undefined, { cause: err });
  }
  if (exit === undefined) throw new ControlError(`connection closed before ${command} finished`);
  return exit;
}

/** A JSON route of the data dir's daemon; NO_DAEMON (saying `what` needs one) when none runs. */
export async function daemonJson(dataDir: string, method: string, route: string, what: string, body?: unknown): Promise<unknown> {
  const endpoint = await daemonEndpoint(dataDir);
  if (endpoint === undefined) throw new NoDaemonError(dataDir, what);
  try {
    return await controlJson(endpoint, method, route, body);
  } catch (err: unknown) {
    if (isNotListening(err)) throw new NoDaemonError(dataDir, what);
    throw err;
  }
}

/** The same, but undefined when no daemon runs (for commands with a direct path). */
export async function daemonJsonIfRunning(dataDir: string, method: string, route: string): Promise<unknown> {
  const endpoint = await daemonEndpoint(dataDir);
  if (endpoint === undefined) return undefined;
  try {
    return await controlJson(endpoint, method, route);
  } catch (err: unknown) {
    if (isNotListening(err)) return undefined;
    throw err;
  }
}
