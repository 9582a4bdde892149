// A private real-Nix environment for the binary cache tests (NIX.md): its own config,
// HOME, caches and chroot stores in a temp dir, nothing substituted but what a test
// names, every command under `timeout`. Makes a signed closure: a tree with an
// executable, a symlink and an empty file (nix-store --add, content-addressed), two
// text files one referring to the other, and an input-addressed path built by /bin/sh
// that refers to the tree.

import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const hasNix = spawnSync('nix', ['--version'], { stdio: 'ignore' }).status === 0;
export const skipWithoutNix = hasNix ? false : '`nix` is not installed (apt-get install nix-bin)';

export interface NixResult { code: number; stdout: string; stderr: string }

export interface NixEnv {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Secret and public key files of the key that signed the closure, and the public key text. */
  readonly secretKeyFile: string;
  readonly publicKey: string;
  /** A store (directory) under the env's dir; made on first use by nix. */
  store(name: string): string;
  /** Runs a Nix command (under timeout); never throws for a non-zero exit. */
  nix(cmd: string, args: string[], seconds?: number): Promise<NixResult>;
  /** The NAR of `storePath` in `store`, as `nix store dump-path` gives it. */
  dump(store: string, storePath: string): Promise<Buffer>;
  /** Same, but throws with stderr unless it exits 0; resolves to stdout. */
  ok(cmd: string, args: string[], seconds?: number): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeNixEnv(prefix = 'castor-nix-'): Promise<NixEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  for (const d of ['conf', 'home', 'cache']) await mkdir(path.join(dir, d));
  await writeFile(path.join(dir, 'conf', 'nix.conf'), [
    'experimental-features = nix-command', 'sandbox = false', 'build-users-group =', 'substituters =',
    'narinfo-cache-negative-ttl = 0', 'narinfo-cache-positive-ttl = 0', 'connect-timeout = 5', '',
  ].join('\n'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'], NIX_CONF_DIR: path.join(dir, 'conf'), HOME: path.join(dir, 'home'), XDG_CACHE_HOME: path.join(dir, 'cache'), NIX_REMOTE: '',
  };
  const nix = async (cmd: string, args: string[], seconds = 60): Promise<NixResult> => {
    try {
      const r = await run('timeout', [String(seconds), cmd, ...args], { env, maxBuffer: 256 << 20, encoding: 'utf8' });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err: unknown) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  };
  const ok = async (cmd: string, args: string[], seconds?: number): Promise<string> => {
    const r = await nix(cmd, args, seconds);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
  const secretKeyFile = path.join(dir, 'sk');
  await writeFile(secretKeyFile, await ok('nix', ['key', 'generate-secret', '--key-name', 'castor-test-1']));
  const publicKey = (await run('sh', ['-c', `nix key convert-secret-to-public < '${secretKeyFile}'`], { env, encoding: 'utf8' })).stdout.trim();
  return {
    dir, env, secretKeyFile, publicKey,
    store: (name) => path.join(dir, 'stores', name),
    nix, ok,
    dump: async (store, storePath) => (await run('timeout', ['60', 'nix', 'store', 'dump-path', '--store', store, storePath], { env, maxBuffer: 1 << 30, encoding: 'buffer' })).stdout,
    cleanup: async () => {
      // Chroot stores are read-only, as Nix leaves them.
      spawnSync('chmod', ['-R', 'u+w', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Closure {
  /** nix-store --add of a tree: executable, symlink, empty file (CA). */
  readonly tree: string;
  /** builtins.toFile "b" referring to builtins.toFile "a" (text CA). */
  readonly text: string;
  readonly textDep: string;
  /** Input-addressed, built by /bin/sh, refers to `tree`; signed. */
  readonly built: string;
  /** Every path, dependencies first. */
  readonly all: readonly string[];
}

/** Makes the test closure in `store` and signs all of it with the env's key. */
export async function makeClosure(nixEnv: NixEnv, store: string): Promise<Closure> {
  const src = path.join(nixEnv.dir, 'src-tree');
  await mkdir(path.join(src, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(src, 'run.sh'), '#!/bin/sh\necho hello\n');
  await chmod(path.join(src, 'run.sh'), 0o755);
  await writeFile(path.join(src, 'sub', '.keep'), '');
  await writeFile(path.join(src, 'sub', 'deeper', 'data.bin'), Buffer.alloc(300_000, 7));
  await symlink('sub/deeper/data.bin', path.join(src, 'link'));
  const tree = (await nixEnv.ok('nix-store', ['--store', store, '--add', src])).trim();
  const text = (await nixEnv.ok('nix', ['eval', '--store', store, '--raw', '--expr', 'builtins.toFile "b" "ref: ${builtins.toFile "a" "x"}"'])).trim();
  const textDep = (await nixEnv.ok('nix-store', ['--store', store, '--query', '--references', text])).trim();
  const expr = `derivation { name = "built"; system = builtins.currentSystem; builder = "/bin/sh";
    args = ["-c" "PATH=/bin:/usr/bin; mkdir $out; echo ${'$'}{builtins.storePath "${tree}"} > $out/ref; echo built > $out/out.txt"]; }`;
  const built = (JSON.parse(await nixEnv.ok('nix', ['build', '--store', store, '--option', 'sandbox-paths', '/bin /usr /lib /lib64', '--impure', '--no-link', '--json', '--expr', expr], 120)) as { outputs: { out: string } }[])[0]!.outputs.out;
  await nixEnv.ok('nix', ['store', 'sign', '--store', store, '--key-file', nixEnv.secretKeyFile, '-r', built, text]);
  return { tree, text, textDep, built, all: [tree, textDep, text, built] };
}
