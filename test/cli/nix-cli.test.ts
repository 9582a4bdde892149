// castor nix import / export / path-info / ls against real Nix 2.8: a signed closure
// copied to file:// caches (xz and none) by `nix copy`, imported with its closure, shown
// as `nix path-info` shows it, exported byte for byte as `nix store dump-path`; refusals
// (untrusted key, a NAR that is not its NarHash) leave nothing visible.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDataDir, PathInfoStore } from '../../src/store/index.js';
import { makeNixEnv, type NixClosure, type NixEnv, type NixPathInfo, skipWithoutNix } from '../support/nix-env.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface Run { status: number | null; stdout: Buffer; stderr: string }

/** The CLI as a child, asynchronously (a test's HTTP server keeps serving meanwhile). */
function castor(args: string[], input?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

function oneLineError(r: Run, pattern: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^castor: /u);
  assert.match(lines[0]!, pattern);
}

/** The fields both tools must agree on, signatures sorted. */
function comparable(infos: readonly NixPathInfo[]): unknown[] {
  return [...infos].sort((a, b) => (a.path < b.path ? -1 : 1)).map((i) => ({
    path: i.path, narHash: i.narHash, narSize: i.narSize, references: [...i.references].sort(), signatures: [...(i.signatures ?? [])].sort(),
  }));
}

describe('castor nix import/export/path-info with real Nix', { skip: skipWithoutNix }, () => {
  let env: NixEnv;
  let c: NixClosure;
  let tmp: string;
  let xzCache: string;
  let plainCache: string;
  const dataDir = (name: string): string => path.join(tmp, `data-${name}`);
  const trust = (): string[] => ['--trusted-nix-key', env.publicKey];

  before(async () => {
    env = await makeNixEnv();
    c = await env.makeClosure();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-nix-cli-'));
    xzCache = path.join(tmp, 'cache-xz');
    plainCache = path.join(tmp, 'cache-none');
    await env.ok('nix', ['copy', '--store', env.store, '--to', `file://${xzCache}`, c.built, c.text]);
    await env.ok('nix', ['copy', '--store', env.store, '--to', `file://${plainCache}?compression=none`, c.built, c.text]);
  });
  after(async () => {
    await env?.cleanup();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('imports a closure from an xz file:// cache; path-info -r agrees with nix; export equals dump-path', async () => {
    const d = dataDir('xz');
    const r = await castor(['nix', 'import', '--data-dir', d, ...trust(), '--from', `file://${xzCache}`, c.built, c.text]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n').sort(), [...c.all].sort());

    const ours = await castor(['nix', 'path-info', '--data-dir', d, '--json', '-r', c.built, c.text]);
    assert.equal(ours.status, 0, ours.stderr);
    const nixInfo = JSON.parse(await env.ok('nix', ['path-info', '--store', env.store, '--json', '-r', c.built, c.text])) as NixPathInfo[];
    assert.deepEqual(comparable(JSON.parse(ours.stdout.toString()) as NixPathInfo[]), comparable(nixInfo));
    for (const p of c.all) {
      const mine = (JSON.parse(ours.stdout.toString()) as NixPathInfo[]).find((i) => i.path === p)!;
      assert.equal(mine.ca, c.info.get(p)!.ca, `ca of ${p}`);
      assert.equal(mine.deriver, c.info.get(p)!.deriver, `deriver of ${p}`);
    }

    const ls = await castor(['nix', 'ls', '--data-dir', d]);
    assert.deepEqual(ls.stdout.toString().trim().split('\n'), [...c.all].sort());

    // PathInfos are gc roots: nothing of their trees goes.
    const gc = await castor(['gc', '--data-dir', d, '--grace', '0']);
    assert.equal(gc.status, 0, gc.stderr);
    for (const p of c.all) {
      const out = path.join(tmp, `export-${path.basename(p)}.nar`);
      const e = await castor(['nix', 'export', '--data-dir', d, p, out]);
      assert.equal(e.status, 0, e.stderr);
      assert.ok((await readFile(out)).equals(await env.dumpPath(p)), `export of ${p} differs from nix store dump-path`);
    }
    const toStdout = await castor(['nix', 'export', '--data-dir', d, c.built]);
    assert.ok(toStdout.stdout.equals(await env.dumpPath(c.built)));
  });

  it('imports from an uncompressed cache, and over http://', async () => {
    const d = dataDir('none');
    const r = await castor(['nix', 'import', '--data-dir', d, ...trust(), '--from', `file://${plainCache}`, c.text]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n'), [c.textDep, c.text]);

    // A static server over the same directory, on loopback.
    const server = http.createServer((req, res) => {
      const file = path.join(plainCache, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!file.startsWith(plainCache + path.sep)) { res.writeHead(400).end(); return; }
      stat(file).then((st) => {
        res.writeHead(200, { 'content-length': st.size });
        createReadStream(file).pipe(res);
      }, () => res.writeHead(404).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const h = await castor(['nix', 'import', '--data-dir', dataDir('http'), ...trust(), '--from', url, '--json', c.built]);
      assert.equal(h.status, 0, h.stderr);
      assert.deepEqual((JSON.parse(h.stdout.toString()) as { imported: string[] }).imported, [c.tree, c.built]);
      // Again: everything is present, nothing fetched.
      const again = await castor(['nix', 'import', '--data-dir', dataDir('http'), ...trust(), '--from', url, '--json', c.built]);
      assert.deepEqual(JSON.parse(again.stdout.toString()), { imported: [], present: [c.built] });
    } finally {
      server.close();
    }
  });

  it('refuses an input-addressed path no trusted key signed, before importing anything', async () => {
    const d = dataDir('untrusted');
    const other = (await env.ok('sh', ['-c', 'nix key generate-secret --key-name other-1 | nix key convert-secret-to-public'])).trim();
    const r = await castor(['nix', 'import', '--data-dir', d, '--trusted-nix-key', other, '--from', `file://${xzCache}`, c.built]);
    oneLineError(r, /built: signed only by castor-test-1, none of them a trusted Nix key/u);
    const ls = await castor(['nix', 'ls', '--data-dir', d, '--json']);
    assert.equal(ls.stdout.toString(), '[]\n', 'not even the content-addressed dependency became visible');
    // Content-addressed paths need no signature.
    const ca = await castor(['nix', 'import', '--data-dir', d, '--from', `file://${xzCache}`, c.text, c.tree]);
    assert.equal(ca.status, 0, ca.stderr);
    assert.deepEqual(ca.stdout.toString().trim().split('\n').sort(), [c.textDep, c.text, c.tree].sort());
    // --no-check-sigs takes it, keeping its signature.
    const unchecked = await castor(['nix', 'import', '--data-dir', d, '--no-check-sigs', '--from', `file://${xzCache}`, c.built]);
    assert.equal(unchecked.status, 0, unchecked.stderr);
    assert.equal(unchecked.stdout.toString(), `${c.built}\n`);
  });

  it('refuses a NAR that does not hash to its NarHash; nothing of its closure is visible', async () => {
    const bad = path.join(tmp, 'cache-bad');
    await cp(plainCache, bad, { recursive: true });
    // Flip one byte of the tree's 200 kB data file inside its NAR (the signature stays valid).
    const hashPart = path.basename(c.tree).slice(0, 32);
    const narinfo = await readFile(path.join(bad, `${hashPart}.narinfo`), 'utf8');
    const narFile = path.join(bad, /^URL: (.*)$/mu.exec(narinfo)![1]!);
    const nar = await readFile(narFile);
    const at = nar.indexOf(Buffer.alloc(64, 7)) + 1000;
    nar[at] = 8;
    await writeFile(narFile, nar);
    const d = dataDir('bad');
    const r = await castor(['nix', 'import', '--data-dir', d, ...trust(), '--from', `file://${bad}`, c.built]);
    oneLineError(r, /tree.*does not match its NarHash/u);
    assert.equal((await castor(['nix', 'ls', '--data-dir', d])).stdout.toString(), '');
    const pi = await castor(['nix', 'path-info', '--data-dir', d, c.built]);
    oneLineError(pi, /is not held/u);
  });

  it('export refuses a tree that does not render to the narHash: OUTPUT removed, stdout left short', async () => {
    const d = dataDir('export-bad');
    const r = await castor(['nix', 'import', '--data-dir', d, ...trust(), '--from', `file://${plainCache}`, c.tree]);
    assert.equal(r.status, 0, r.stderr);
    // A PathInfo whose narHash is not its tree's (as a damaged or lying record would be).
    const data = await openDataDir(d);
    const paths = new PathInfoStore(data.layout);
    const good = (await paths.get(c.tree))!;
    const liar = `/nix/store/${'1'.repeat(32)}-liar`;
    const { ca: _ca, ...inputAddressed } = good;
    await paths.put({ ...inputAddressed, storePath: liar, narHash: new Uint8Array(32).fill(9), signatures: [] }, { noCheckSigs: true });
    const out = path.join(tmp, 'liar.nar');
    oneLineError(await castor(['nix', 'export', '--data-dir', d, liar, out]), /liar: the NAR does not match its NarHash/u);
    await assert.rejects(stat(out), { code: 'ENOENT' });
    const toStdout = await castor(['nix', 'export', '--data-dir', d, liar]);
    assert.equal(toStdout.status, 1);
    assert.ok(toStdout.stdout.length < good.narSize, 'the last piece was held back');
    const whole = await castor(['nix', 'export', '--data-dir', d, c.tree, out]);
    assert.equal(whole.status, 0, whole.stderr);
    oneLineError(await castor(['nix', 'export', '--data-dir', d, c.tree, out]), /exists \(--force replaces it\)/u);
  });

  it('imports a dump-path NAR with its narinfo; refuses a NAR that is not the narinfo\'s, and a NAR alone', async () => {
    const d = dataDir('nar');
    const narinfoOf = async (p: string): Promise<string> => {
      const file = path.join(tmp, `${path.basename(p)}.narinfo`);
      await cp(path.join(xzCache, `${path.basename(p).slice(0, 32)}.narinfo`), file);
      return file;
    };
    const depNar = await env.dumpPath(c.textDep);
    const ok = await castor(['nix', 'import', '--data-dir', d, ...trust(), '-', '--narinfo', await narinfoOf(c.textDep)], depNar);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.toString(), `${c.textDep}\n`);

    const narFile = path.join(tmp, 'text.nar');
    await writeFile(narFile, await env.dumpPath(c.tree));
    const wrong = await castor(['nix', 'import', '--data-dir', d, ...trust(), narFile, '--narinfo', await narinfoOf(c.text)]);
    oneLineError(wrong, /does not match its Nar(Size|Hash)/u);
    assert.equal((await castor(['nix', 'ls', '--data-dir', d])).stdout.toString(), `${c.textDep}\n`);

    const alone = await castor(['nix', 'import', '--data-dir', d, narFile]);
    assert.equal(alone.status, 2);
    assert.match(alone.stderr, /^castor: nix import: a NAR alone does not say which store path it is/u);

    // The cache's own xz file, as its narinfo names it.
    const textNarinfo = await narinfoOf(c.text);
    const xzFile = path.join(xzCache, /^URL: (.*)$/mu.exec(await readFile(textNarinfo, 'utf8'))![1]!);
    assert.match(xzFile, /\.nar\.xz$/u);
    const right = await castor(['nix', 'import', '--data-dir', d, ...trust(), xzFile, '--narinfo', textNarinfo]);
    assert.equal(right.status, 0, right.stderr);
    const e = await castor(['nix', 'export', '--data-dir', d, c.text]);
    assert.ok(e.stdout.equals(await env.dumpPath(c.text)));
    assert.deepEqual((await readdir(d)).includes('nix'), true);
  });
});
