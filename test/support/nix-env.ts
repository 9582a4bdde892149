// Real Nix 2.8 for tests and benchmarks, isolated in a temp dir (../shared/NIX.md): its own
// NIX_CONF_DIR, HOME, XDG_CACHE_HOME, NIX_REMOTE= (no daemon), chroot stores under the dir,
// `substituters =` empty, every command under `timeout`; a key pair; and the test closure
// (a tree with an executable, a symlink and an empty file; a text path referring to another;
// an input-addressed path built by /bin/sh), signed. Nothing here touches /nix or the network.
//
//   const env = await makeNixEnv();           // skip the test when `hasNix` is false
//   const c = await env.makeClosure();        // in env.store (a chroot store dir)
//   await env.ok('nix', ['copy', '--store', env.store, '--to', `file://${dir}`, ...c.all]);
//   const other = await env.fresh();          // same key files, new config, caches and store
//   ...; await other.cleanup(); await env.cleanup();

import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** True when a `nix` command is installed (Debian: apt-get install nix-bin). */
export const hasNix = spawnSync('nix', ['--version'], { stdio: 'ignore' }).status === 0;
/** For `describe(..., { skip })`: false, or why the test is skipped. */
export const skipWithoutNix: false | string = hasNix ? false : '`nix` is not installed (apt-get install nix-bin)';

/** Default limit on one Nix command, seconds (Nix 2.8 can hang on a 5xx answer to a PUT). */
export const NIX_TIMEOUT_S = 120;

export interface NixResult { readonly code: number; readonly stdout: string; readonly stderr: string }

/** `nix path-info --json` of one path, as Nix 2.8 prints it. */
export interface NixPathInfo {
  readonly path: string;
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly deriver?: string;
  readonly signatures?: readonly string[];
  readonly ca?: string;
}

export interface NixClosure {
  /** `nix-store --add` of a tree: `run.sh` executable, `link` symlink, `sub/.keep` empty (content-addressed). */
  readonly tree: string;
  /** `builtins.toFile "b"` referring to `textDep` (text content address). */
  readonly text: string;
  readonly textDep: string;
  /** Input-addressed, built by /bin/sh, refers to `tree`. */
  readonly built: string;
  /** Every path, dependencies first. */
  readonly all: readonly string[];
  /** `nix path-info --json` of each path in `all`, after signing. */
  readonly info: ReadonlyMap<string, NixPathInfo>;
}

export interface NixEnv {
  /** The temp dir holding everything of this env. */
  readonly dir: string;
  /** The environment every command runs with. */
  readonly env: NodeJS.ProcessEnv;
  /** This env's chroot store (`--store` argument; files under `<store>/nix/store`). */
  readonly store: string;
  /** Key files (`name:base64` text) and the public key text, e.g. for `trusted-public-keys`. */
  readonly secretKeyFile: string;
  readonly publicKeyFile: string;
  readonly publicKey: string;
  /** Runs `cmd args` under `timeout`; never throws for a non-zero exit. */
  run(cmd: string, args: readonly string[], seconds?: number): Promise<NixResult>;
  /** Same, but rejects with the stderr unless it exits 0; resolves to stdout. */
  ok(cmd: string, args: readonly string[], seconds?: number): Promise<string>;
  /** `nix path-info --json` of `paths` in `store` (default: this env's). */
  pathInfo(paths: readonly string[], store?: string): Promise<NixPathInfo[]>;
  /** The NAR of `storePath` (`nix store dump-path`). */
  dumpPath(storePath: string, store?: string): Promise<Buffer>;
  /** Builds the test closure in this env's store and signs it with the key. */
  makeClosure(): Promise<NixClosure>;
  /** A second env (own config, HOME, caches and empty store) sharing this one's key files: a substituting client. */
  fresh(): Promise<NixEnv>;
  /** Removes the dir (chroot stores are read-only as Nix leaves them; made writable first). */
  cleanup(): Promise<void>;
}

export interface NixEnvOptions {
  /** Extra nix.conf lines, e.g. `trusted-public-keys = ...`. */
  readonly conf?: readonly string[];
}

/** A new isolated env with a fresh key pair `castor-test-1`. */
export async function makeNixEnv(options: NixEnvOptions = {}): Promise<NixEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-nix-'));
  const env = await setUp(dir, options);
  const secretKeyFile = path.join(dir, 'key.secret');
  const publicKeyFile = path.join(dir, 'key.public');
  await writeFile(secretKeyFile, await okIn(env, 'nix', ['key', 'generate-secret', '--key-name', 'castor-test-1']), { mode: 0o600 });
  const publicKey = (await okIn(env, 'sh', ['-c', 'nix key convert-secret-to-public < "$0"', secretKeyFile])).trim();
  await writeFile(publicKeyFile, publicKey);
  return envObject(dir, env, secretKeyFile, publicKeyFile, publicKey, options);
}

async function setUp(dir: string, options: NixEnvOptions): Promise<NodeJS.ProcessEnv> {
  for (const d of ['conf', 'home', 'cache', 'stores']) await mkdir(path.join(dir, d), { recursive: true });
  await writeFile(path.join(dir, 'conf', 'nix.conf'), [
    'experimental-features = nix-command', 'sandbox = false', 'build-users-group =', 'substituters =',
    'narinfo-cache-negative-ttl = 0', ...(options.conf ?? []), '',
  ].join('\n'));
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    NIX_CONF_DIR: path.join(dir, 'conf'), HOME: path.join(dir, 'home'), XDG_CACHE_HOME: path.join(dir, 'cache'), NIX_REMOTE: '',
  };
}

async function runIn(env: NodeJS.ProcessEnv, cmd: string, args: readonly string[], seconds = NIX_TIMEOUT_S): Promise<NixResult> {
  try {
    const r = await run('timeout', [String(seconds), cmd, ...args], { env, maxBuffer: 1 << 30, encoding: 'utf8' });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: unknown) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

async function okIn(env: NodeJS.ProcessEnv, cmd: string, args: readonly string[], seconds?: number): Promise<string> {
  const r = await runIn(env, cmd, args, seconds);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}${r.code === 124 ? ' (timed out)' : ''}\n${r.stderr}`);
  return r.stdout;
}

function envObject(dir: string, env: NodeJS.ProcessEnv, secretKeyFile: string, publicKeyFile: string, publicKey: string, options: NixEnvOptions): NixEnv {
  const store = path.join(dir, 'stores', 'main');
  const self: NixEnv = {
    dir, env, store, secretKeyFile, publicKeyFile, publicKey,
    run: (cmd, args, seconds) => runIn(env, cmd, args, seconds),
    ok: (cmd, args, seconds) => okIn(env, cmd, args, seconds),
    pathInfo: async (paths, s = store) => JSON.parse(await okIn(env, 'nix', ['path-info', '--store', s, '--json', ...paths])) as NixPathInfo[],
    dumpPath: async (storePath, s = store) =>
      (await run('timeout', [String(NIX_TIMEOUT_S), 'nix', 'store', 'dump-path', '--store', s, storePath], { env, maxBuffer: 1 << 30, encoding: 'buffer' })).stdout,
    makeClosure: () => makeClosure(self),
    fresh: async () => {
      const other = await mkdtemp(path.join(os.tmpdir(), 'castor-nix-'));
      return envObject(other, await setUp(other, options), secretKeyFile, publicKeyFile, publicKey, options);
    },
    cleanup: async () => {
      spawnSync('chmod', ['-R', 'u+w', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return self;
}

async function makeClosure(e: NixEnv): Promise<NixClosure> {
  const src = path.join(e.dir, 'src-tree');
  await mkdir(path.join(src, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(src, 'run.sh'), '#!/bin/sh\necho hello\n');
  await chmod(path.join(src, 'run.sh'), 0o755);
  await writeFile(path.join(src, 'sub', '.keep'), '');
  await writeFile(path.join(src, 'sub', 'deeper', 'data.bin'), Buffer.alloc(200_000, 7));
  await symlink('sub/deeper/data.bin', path.join(src, 'link'));
  const tree = (await e.ok('nix-store', ['--store', e.store, '--add', src])).trim();
  const text = (await e.ok('nix', ['eval', '--store', e.store, '--raw', '--expr', 'builtins.toFile "b" "ref: ${builtins.toFile "a" "x"}"'])).trim();
  const textDep = (await e.ok('nix-store', ['--store', e.store, '--query', '--references', text])).trim();
  // A build in a chroot store runs in Nix's sandbox: give it the host's /bin and libraries.
  const expr = `derivation { name = "built"; system = builtins.currentSystem; builder = "/bin/sh";
    args = ["-c" "PATH=/bin:/usr/bin; mkdir $out; echo ${'$'}{builtins.storePath "${tree}"} > $out/ref; echo built > $out/out.txt"]; }`;
  const builds = JSON.parse(await e.ok('nix', ['build', '--store', e.store, '--option', 'sandbox-paths', '/bin /usr /lib /lib64',
    '--impure', '--no-link', '--json', '--expr', expr])) as { outputs: { out: string } }[];
  const built = builds[0]!.outputs.out;
  await e.ok('nix', ['store', 'sign', '--store', e.store, '--key-file', e.secretKeyFile, '-r', built, text]);
  const all = [tree, textDep, text, built];
  const info = new Map((await e.pathInfo(all)).map((i) => [i.path, i] as const));
  return { tree, text, textDep, built, all, info };
}
