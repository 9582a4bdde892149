// The NAR codec against real Nix: trees `nix-store --add` stores in a private chroot store,
// whose NARs (`nix store dump-path`) ingest and render back byte for byte, with the
// narHash and narSize `nix path-info` reports. Skipped where `nix` is not installed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ingestPath } from '../../../src/store/ingest/index.js';
import { formatDigest, asDigest } from '../../../src/store/digest.js';
import { ingestNar, renderNar } from '../../../src/store/nix/index.js';
import { tempStore, type Store } from '../store-fixture.js';
import { chunked, collect, pseudoRandom } from './nar-fixture.js';

const hasNix = spawnSync('nix', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = hasNix ? false : '`nix` is not installed (apt-get install nix-bin)';

/** Nix base32 decoding (NIX.md): char i of n holds bits (n-1-i)*5 .. +4 of the little-endian bytes. */
function fromNix32(s: string, bytes: number): Uint8Array {
  const alphabet = '0123456789abcdfghijklmnpqrsvwxyz';
  const out = new Uint8Array(bytes);
  for (let i = 0; i < s.length; i++) {
    const c = alphabet.indexOf(s[i]!);
    assert.ok(c >= 0, `nix base32 character ${s[i]}`);
    const bit = (s.length - 1 - i) * 5;
    const j = bit >> 3;
    const shift = bit & 7;
    out[j]! |= (c << shift) & 0xff;
    if (shift > 3 && j + 1 < bytes) out[j + 1]! |= c >> (8 - shift);
  }
  return out;
}

/** A narHash as `nix path-info --json` prints it: SRI, or `sha256:` in base32 or base16. */
function parseNarHash(h: string): Buffer {
  if (h.startsWith('sha256-')) return Buffer.from(h.slice(7), 'base64');
  const v = h.replace(/^sha256:/, '');
  return v.length === 64 ? Buffer.from(v, 'hex') : Buffer.from(fromNix32(v, 32));
}

describe('NARs of real Nix', { skip }, () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let store: Store;
  const nixStore = (): string => path.join(tmp, 'nix-store');
  const nix = (cmd: string, args: string[], maxBuffer = 64 << 20): Buffer =>
    execFileSync('timeout', ['120', cmd, ...args], { env, maxBuffer, stdio: ['ignore', 'pipe', 'pipe'] });

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-nar-nix-'));
    for (const d of ['conf', 'home', 'cache']) await mkdir(path.join(tmp, d));
    await writeFile(path.join(tmp, 'conf', 'nix.conf'), 'experimental-features = nix-command\nsandbox = false\nbuild-users-group =\nsubstituters =\n');
    env = { PATH: process.env.PATH, NIX_CONF_DIR: path.join(tmp, 'conf'), HOME: path.join(tmp, 'home'), XDG_CACHE_HOME: path.join(tmp, 'cache'), NIX_REMOTE: '' };
    store = await tempStore();
  });
  after(async () => {
    await store?.cleanup();
    // The chroot store's files are read-only, as Nix leaves them.
    spawnSync('chmod', ['-R', 'u+w', tmp]);
    await rm(tmp, { recursive: true, force: true });
  });

  /** Adds `p` to the private store; checks its NAR round-trips and hashes as Nix says. */
  async function checkPath(p: string): Promise<{ node: import('../../../src/store/castore/index.js').Node; nar: Buffer }> {
    const storePath = nix('nix-store', ['--store', nixStore(), '--add', p]).toString().trim();
    assert.match(storePath, /^\/nix\/store\/[0-9a-z]{32}-/);
    const nar = nix('nix', ['store', 'dump-path', '--store', nixStore(), storePath]);
    const [info] = JSON.parse(nix('nix', ['path-info', '--store', nixStore(), '--json', storePath]).toString()) as { narHash: string; narSize: number }[];
    const r = await ingestNar(chunked(nar, [65_536, 1, 4093]), store.data);
    assert.equal(r.narSize, nar.length);
    assert.equal(r.narSize, info!.narSize, 'narSize is the one nix path-info reports');
    assert.ok(Buffer.from(r.narHash).equals(parseNarHash(info!.narHash)), `narHash ${Buffer.from(r.narHash).toString('hex')} is nix's ${info!.narHash}`);
    const render = renderNar(r.node, store.data);
    const out = await collect(render);
    assert.ok(Buffer.from(out).equals(nar), 'the rendered NAR is byte-identical to nix store dump-path');
    assert.ok(Buffer.from((await render.result).narHash).equals(createHash('sha256').update(nar).digest()));
    return { node: r.node, nar };
  }

  it('a tree with an executable, a symlink, an empty file, an empty dir, nested dirs and odd names', async () => {
    const src = path.join(tmp, 'tree');
    await mkdir(path.join(src, 'sub', 'deeper', 'deepest'), { recursive: true });
    await mkdir(path.join(src, 'empty-dir'));
    await writeFile(path.join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(path.join(src, 'run.sh'), 0o755);
    await writeFile(path.join(src, 'empty'), '');
    await writeFile(path.join(src, 'sub', 'deeper', 'deepest', 'leaf'), 'leaf\n');
    await writeFile(path.join(src, 'big.bin'), pseudoRandom(300_000, 11));
    await writeFile(Buffer.from(path.join(src, 'caf\xe9'), 'latin1'), 'latin-1 name');
    await writeFile(path.join(src, 'n'.repeat(255)), 'long name');
    await symlink('run.sh', path.join(src, 'link'));
    await symlink('/nowhere/at/all', path.join(src, 'sub', 'dangling'));
    const { node } = await checkPath(src);
    // The same tree added from disk gets the same castore digest.
    const fromDisk = await ingestPath(src, store.data);
    assert.ok('directory' in node);
    assert.equal(formatDigest(fromDisk.digest), formatDigest(asDigest(node.directory.digest)));
  });

  it('a file root and an executable file root', async () => {
    const f = path.join(tmp, 'plain.txt');
    await writeFile(f, 'a file as a store path\n');
    const a = await checkPath(f);
    assert.ok('file' in a.node && !a.node.file.executable);
    const x = path.join(tmp, 'tool');
    await writeFile(x, pseudoRandom(70_000, 12));
    await chmod(x, 0o755);
    const b = await checkPath(x);
    assert.ok('file' in b.node && b.node.file.executable);
  });

  it('a symlink root', async () => {
    const l = path.join(tmp, 'just-a-link');
    await symlink('target/of/the/link', l);
    const { node } = await checkPath(l);
    assert.ok('symlink' in node);
    assert.equal(Buffer.from(node.symlink.target).toString(), 'target/of/the/link');
  });
});
