// `castor key` and `castor nix` commands, called in-process with captured output.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Io } from '../../src/cli/cli-io.js';
import { run as key } from '../../src/cli/commands/key.js';
import { run as nix } from '../../src/cli/commands/nix.js';
import { parsePublicKey, parseSecretKey } from '../../src/verify/keys.js';

interface Captured { io: Io; out: () => string; err: () => string }
function capture(): Captured {
  let out = '';
  let err = '';
  return { io: { out: (s) => { out += s; }, err: (s) => { err += s; } }, out: () => out, err: () => err };
}

async function call(cmd: typeof key, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const c = capture();
  const status = await cmd(argv, c.io);
  return { status, out: c.out(), err: c.err() };
}

// Real cache.nixos.org data from tvix nix-compat/src/narinfo/fingerprint.rs (see test/verify/nix-fingerprint.test.ts).
const FP = '1;/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin;sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0;196040;/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0,/nix/store/6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115,/nix/store/j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12,/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n';
const SIG = 'cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==';
const CACHE_KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=';
// tvix nix-compat/src/narinfo/mod.rs DUMMY_KEYPAIR, as a Nix-written key file (no newline).
const TVIX_SECRET = 'cache.example.com-1:cCta2MEsRNuYCgWYyeRXLyfoFpKhQJKn8gLMeXWAb7vIpRKKo/3JoxJ24OYa3DxT2JVV38KjK/1ywHWuMe2JEw==';
const TVIX_PUBLIC = 'cache.example.com-1:yKUSiqP9yaMSduDmGtw8U9iVVd/Coyv9csB1rjHtiRM=';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'castor-key-nix-'));
  await writeFile(path.join(dir, 'nix.secret'), TVIX_SECRET);
  await writeFile(path.join(dir, 'tvix.public'), TVIX_PUBLIC);
  await writeFile(path.join(dir, 'garbage.secret'), Buffer.from([0xff, 0x00, 0x3a, 0x80, 0x0a]));
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

test('key generate writes NAME.secret (0600) and NAME.public, prints the public key, never overwrites', async () => {
  const r = await call(key, ['generate', 'test.example-1', '--out', dir]);
  assert.equal(r.status, 0, r.err);
  const secretPath = path.join(dir, 'test.example-1.secret');
  const publicPath = path.join(dir, 'test.example-1.public');
  assert.equal((await stat(secretPath)).mode & 0o777, 0o600);
  const secretText = await readFile(secretPath, 'utf8');
  const publicText = await readFile(publicPath, 'utf8');
  assert.equal(r.out, `${publicText}\n`);
  assert.ok(!secretText.endsWith('\n'), 'no newline, as nix-store --generate-binary-cache-key');
  assert.equal(parseSecretKey(secretText).name, 'test.example-1');
  assert.equal(parsePublicKey(publicText).name, 'test.example-1');

  const again = await call(key, ['generate', 'test.example-1', '--out', dir]);
  assert.equal(again.status, 1);
  assert.match(again.err, /^castor: .*already exists.*\n$/u);
  assert.equal(await readFile(secretPath, 'utf8'), secretText, 'old secret untouched');

  // Only the public file exists: refuse, and leave no stray secret behind.
  await writeFile(path.join(dir, 'half.public'), 'x');
  const half = await call(key, ['generate', 'half', '--out', dir]);
  assert.equal(half.status, 1);
  await assert.rejects(stat(path.join(dir, 'half.secret')));
  assert.equal(await readFile(path.join(dir, 'half.public'), 'utf8'), 'x');

  const pub = await call(key, ['public', secretPath]);
  assert.deepEqual(pub, { status: 0, out: `${publicText}\n`, err: '' });
});

test('key public reads a Nix-made secret key file, with or without a trailing newline', async () => {
  for (const [file, text] of [['nix.secret', TVIX_SECRET], ['nl.secret', `${TVIX_SECRET}\n`]] as const) {
    await writeFile(path.join(dir, file), text);
    assert.deepEqual(await call(key, ['public', path.join(dir, file)]), { status: 0, out: `${TVIX_PUBLIC}\n`, err: '' });
  }
});

test('key: bad usage and bad input exit 2 with one castor: line', async () => {
  const bad: string[][] = [
    [], ['frobnicate'], ['generate'], ['generate', 'a', 'b'], ['generate', 'x', '--bogus'],
    ['generate', 'a:b', '--out', dir], ['generate', '../escape', '--out', dir], ['generate', 'has space', '--out', dir],
    ['public'], ['public', path.join(dir, 'missing.secret')], ['public', path.join(dir, 'garbage.secret')],
    ['public', path.join(dir, 'tvix.public')],
  ];
  for (const argv of bad) {
    const r = await call(key, argv);
    assert.equal(r.status, 2, argv.join(' '));
    assert.equal(r.out, '');
    assert.match(r.err, /^castor: [^\n]+\n$/u, argv.join(' '));
  }
  // The secret key must not show up in error output.
  await writeFile(path.join(dir, 'short.secret'), TVIX_SECRET.slice(0, -4));
  const r = await call(key, ['public', path.join(dir, 'short.secret')]);
  assert.equal(r.status, 2);
  assert.ok(!r.err.includes('cCta2'), r.err);
});

test('--help prints usage and exits 0', async () => {
  for (const [cmd, argv] of [[key, ['--help']], [key, ['generate', '--help']], [key, ['public', '-h']], [nix, ['--help']], [nix, ['sign-fingerprint', '--help']], [nix, ['verify-fingerprint', '--help']]] as const) {
    const r = await call(cmd, [...argv]);
    assert.equal(r.status, 0);
    assert.match(r.out, /^usage: castor (key|nix) /u);
    assert.equal(r.err, '');
  }
});

test('nix verify-fingerprint: real cache.nixos.org signature, key inline or in a file', async () => {
  assert.equal((await call(nix, ['verify-fingerprint', FP, SIG, CACHE_KEY])).status, 0);
  const keyFile = path.join(dir, 'cache.public');
  await writeFile(keyFile, `${CACHE_KEY}\n`);
  assert.equal((await call(nix, ['verify-fingerprint', FP, SIG, keyFile])).status, 0);
  assert.equal((await call(nix, ['verify-fingerprint', FP, SIG, TVIX_PUBLIC, keyFile])).status, 0, 'name picks the key');

  const flipped = `${SIG.slice(0, 20)}${SIG[20] === 'A' ? 'B' : 'A'}${SIG.slice(21)}`;
  const invalid = await call(nix, ['verify-fingerprint', FP, flipped, CACHE_KEY]);
  assert.equal(invalid.status, 1);
  assert.match(invalid.err, /^castor: [^\n]+\n$/u);
  assert.equal((await call(nix, ['verify-fingerprint', FP.replace('196040', '196041'), SIG, CACHE_KEY])).status, 1);
  assert.equal((await call(nix, ['verify-fingerprint', FP, SIG, TVIX_PUBLIC])).status, 1, 'no key of that name');
});

test('nix verify-fingerprint: malformed input and bad usage exit 2', async () => {
  const bad: string[][] = [
    [], ['verify-fingerprint'], ['verify-fingerprint', FP, SIG], ['verify-fingerprint', FP, SIG, CACHE_KEY, '--x'],
    ['verify-fingerprint', 'not a fingerprint', SIG, CACHE_KEY],
    ['verify-fingerprint', FP, 'cache.nixos.org-1:short', CACHE_KEY],
    ['verify-fingerprint', FP, SIG, 'cache.nixos.org-1:AAAA'],
    ['verify-fingerprint', FP, SIG, path.join(dir, 'no-such-file')],
    ['verify-fingerprint', FP, SIG, path.join(dir, 'garbage.secret')],
  ];
  for (const argv of bad) {
    const r = await call(nix, argv);
    assert.equal(r.status, 2, argv.join(' '));
    assert.match(r.err, /^castor: [^\n]+\n$/u, argv.join(' '));
  }
});

test('nix sign-fingerprint with a Nix-made key; the result verifies', async () => {
  const secretFile = path.join(dir, 'nix.secret');
  const r = await call(nix, ['sign-fingerprint', FP, '--key', secretFile]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^cache\.example\.com-1:[A-Za-z0-9+/]{86}==\n$/u);
  const sig = r.out.trimEnd();
  assert.equal((await call(nix, ['verify-fingerprint', FP, sig, TVIX_PUBLIC])).status, 0);
  assert.equal((await call(nix, ['sign-fingerprint', FP, '--key', secretFile])).out, r.out, 'deterministic');

  for (const argv of [['sign-fingerprint', FP], ['sign-fingerprint', '--key', secretFile], ['sign-fingerprint', 'junk', '--key', secretFile], ['sign-fingerprint', FP, '--key', path.join(dir, 'garbage.secret')], ['sign-fingerprint', FP, '--key', path.join(dir, 'tvix.public')]]) {
    const bad = await call(nix, argv);
    assert.equal(bad.status, 2, argv.join(' '));
    assert.equal(bad.out, '');
    assert.match(bad.err, /^castor: [^\n]+\n$/u);
  }
});
