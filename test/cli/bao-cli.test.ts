// The hash and bao commands as users and scripts call them: real processes,
// files and pipes, exit codes 0 / 1 / 2, and no unverified byte on any output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { castor } from './run-cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'castor-cli-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const data = randomBytes(300_000);
const file = path.join(dir, 'data');
writeFileSync(file, data);
const digest = hex(nobleBlake3(data));

test('hash: b3sum-style lines for files and stdin; a missing file fails alone', () => {
  const r = castor(['hash', file]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout.toString(), `${digest}  ${file}\n`);
  assert.equal(castor(['hash'], data).stdout.toString(), `${digest}  -\n`);
  assert.equal(castor(['hash', '--no-names', '-'], data).stdout.toString(), `${digest}\n`);
  const j = JSON.parse(castor(['hash', '--json', file]).stdout.toString()) as { hash: string; size: number };
  assert.deepEqual([j.hash, j.size], [digest, data.length]);
  const missing = castor(['hash', path.join(dir, 'nope'), file]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope/);
  assert.equal(missing.stdout.toString(), `${digest}  ${file}\n`);
});

test('bao encode/decode round trip, combined and outboard, at G = 0 and the default', () => {
  for (const g of ['0', '4']) {
    const enc = path.join(dir, `enc${g}`);
    assert.equal(castor(['bao', 'encode', file, enc, '--group-log', g]).status, 0);
    const dec = castor(['bao', 'decode', digest, enc, '--group-log', g]);
    assert.equal(dec.status, 0, dec.stderr);
    assert.deepEqual(dec.stdout, data);
    const ob = path.join(dir, `ob${g}`);
    assert.equal(castor(['bao', 'encode', file, '--outboard', ob, '--group-log', g]).status, 0);
    const viaOb = castor(['bao', 'decode', digest, file, '--outboard', ob, '--group-log', g]);
    assert.equal(viaOb.status, 0, viaOb.stderr);
    assert.deepEqual(viaOb.stdout, data);
    // stdin in, stdout out
    const piped = castor(['bao', 'encode', '-', '-', '--group-log', g], data);
    assert.deepEqual(piped.stdout, readFileSync(enc));
    const ranged = castor(['bao', 'decode', digest, '-', '--start', '100000', '--count', '5000', '--group-log', g], readFileSync(enc));
    assert.deepEqual(ranged.stdout, data.subarray(100_000, 105_000));
  }
});

test('a flipped byte: exit 1, one line on stderr, nothing of the failing group written', () => {
  const enc = path.join(dir, 'enc-flip');
  castor(['bao', 'encode', file, enc]);
  const bytes = readFileSync(enc);
  // With G = 4 the first group's data starts after the header and the parents on the left edge.
  const at = bytes.length - 1000;
  bytes[at]! ^= 0x40;
  const out = path.join(dir, 'out-flip');
  const r = castor(['bao', 'decode', digest, '-', out], bytes);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /failed verification/);
  const written = readFileSync(out);
  assert.ok(written.length < data.length - 1000 && written.length % 16384 === 0);
  assert.deepEqual(written, data.subarray(0, written.length));
});

test('slice and decode-slice through pipes; a corrupted slice fails', () => {
  const enc = path.join(dir, 'enc-slice');
  castor(['bao', 'encode', file, enc]);
  const s = castor(['bao', 'slice', '123456', '70000', enc]);
  assert.equal(s.status, 0);
  assert.ok(s.stdout.length < 120_000);
  const d = castor(['bao', 'decode-slice', digest, '123456', '70000'], s.stdout);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(d.stdout, data.subarray(123_456, 193_456));
  const ob = path.join(dir, 'ob-slice');
  castor(['bao', 'encode', file, '--outboard', ob]);
  assert.deepEqual(castor(['bao', 'slice', '123456', '70000', file, '--outboard', ob]).stdout, s.stdout);
  const bad = Buffer.from(s.stdout);
  bad[bad.length - 5]! ^= 1;
  assert.equal(castor(['bao', 'decode-slice', digest, '123456', '70000'], bad).status, 1);
  const wrongHash = digest.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  assert.equal(castor(['bao', 'decode-slice', wrongHash, '123456', '70000'], s.stdout).status, 1);
});

test('bad usage exits 2 with a message; encode leaves no half-written output', () => {
  for (const args of [[], ['bao'], ['bao', 'frobnicate'], ['bao', 'decode', 'xyz'], ['bao', 'encode', file, 'o', '--group-log', '9'],
    ['bao', 'slice', 'a', '1'], ['bao', 'encode', file, 'x', '--outboard', 'y'], ['hash', '--bogus'], ['nosuchcommand']]) {
    const r = castor(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0 || r.stdout.length > 0);
  }
  assert.equal(castor(['--help']).status, 0);
  assert.equal(castor(['bao', '--help']).status, 0);
  const out = path.join(dir, 'never');
  assert.equal(castor(['bao', 'encode', path.join(dir, 'missing'), out]).status, 1);
  assert.equal(existsSync(out), false);
});
