// narinfo text: Nix's layout round trips, every NarHash form, malformed input refused with
// its line, PathInfo signatures, and the PathInfo <-> IndexEntry (NixInfo) mapping.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  formatNarinfo, fromIndexEntry, isSignedBy, MAX_NARINFO_BYTES, type Narinfo, NarinfoError, parseNarinfo, type PathInfo,
  pathInfoFingerprint, signPathInfo, toIndexEntry, validSignatureKeys,
} from '../../../src/store/nix/index.js';
import { decodeEntryAt, encodeIndex } from '../../../src/store/trust/index.js';
import { generateKeyPair, nix32Encode, publicKeyOf } from '../../../src/verify/index.js';

const H = (c: string): string => c.repeat(32);
const narHash = createHash('sha256').update('nar').digest();
const N32 = nix32Encode(narHash);

// As Nix 2.8 writes one (field order of NarInfo::to_string).
const SAMPLE = [
  `StorePath: /nix/store/${H('a')}-hello-2.12.1`,
  `URL: nar/${'1'.repeat(52)}.nar.xz`,
  'Compression: xz',
  `FileHash: sha256:${'1'.repeat(52)}`,
  'FileSize: 50264',
  `NarHash: sha256:${N32}`,
  'NarSize: 226560',
  `References: ${H('a')}-hello-2.12.1 ${H('b')}-glibc-2.35`,
  `Deriver: ${H('c')}-hello-2.12.1.drv`,
  'System: x86_64-linux',
  `Sig: cache.example.org-1:${Buffer.alloc(64, 1).toString('base64')}`,
  '',
].join('\n');

function refused(text: string | Uint8Array, reason: string, line?: number): void {
  assert.throws(() => parseNarinfo(text), (err: unknown) => {
    assert.ok(err instanceof NarinfoError, String(err));
    assert.equal(err.code, 'NARINFO_MALFORMED');
    assert.equal(err.reason, reason, err.message);
    if (line !== undefined) assert.equal(err.line, line, err.message);
    return true;
  });
}

const replaceLine = (name: string, value: string | undefined): string =>
  SAMPLE.split('\n').map((l) => (l.startsWith(`${name}: `) ? (value === undefined ? null : `${name}: ${value}`) : l))
    .filter((l) => l !== null).join('\n');

describe('narinfo', () => {
  it('parses what Nix writes and prints it back byte for byte', () => {
    const n = parseNarinfo(SAMPLE);
    assert.equal(n.storePath, `/nix/store/${H('a')}-hello-2.12.1`);
    assert.equal(n.compression, 'xz');
    assert.equal(n.fileSize, 50264);
    assert.deepEqual(n.narHash, new Uint8Array(narHash));
    assert.equal(n.narSize, 226560);
    assert.deepEqual(n.references, [`/nix/store/${H('a')}-hello-2.12.1`, `/nix/store/${H('b')}-glibc-2.35`]);
    assert.equal(n.deriver, `/nix/store/${H('c')}-hello-2.12.1.drv`);
    assert.equal(n.system, 'x86_64-linux');
    assert.equal(n.signatures.length, 1);
    assert.equal(formatNarinfo(n), SAMPLE);
    assert.equal(formatNarinfo(parseNarinfo(new TextEncoder().encode(SAMPLE))), SAMPLE);
  });

  it('takes NarHash in base16, nix32, base64 and SRI, and prints sha256:<nix32>', () => {
    for (const form of [`sha256:${narHash.toString('hex')}`, `sha256:${N32}`, `sha256:${narHash.toString('base64')}`, `sha256-${narHash.toString('base64')}`]) {
      const n = parseNarinfo(replaceLine('NarHash', form));
      assert.deepEqual(n.narHash, new Uint8Array(narHash), form);
      assert.equal(formatNarinfo(n), SAMPLE);
    }
    refused(replaceLine('NarHash', `sha512:${N32}`), 'BAD_VALUE', 6);
    refused(replaceLine('NarHash', `sha256:${N32.slice(1)}`), 'BAD_VALUE', 6);
    refused(replaceLine('NarHash', N32), 'BAD_VALUE', 6);
  });

  it('skips unknown fields, reads Deriver unknown-deriver as none and a missing Compression as bzip2', () => {
    const n = parseNarinfo(`${SAMPLE}X-Future: whatever it is\nFileSize2: 3\n`);
    assert.equal(formatNarinfo(n), SAMPLE);
    assert.equal(parseNarinfo(replaceLine('Deriver', 'unknown-deriver')).deriver, undefined);
    assert.equal(parseNarinfo(replaceLine('Compression', undefined)).compression, 'bzip2');
    const bare = parseNarinfo(`StorePath: /nix/store/${H('a')}-x\nURL: nar/x.nar\nNarHash: sha256:${N32}\nNarSize: 8\n`);
    assert.deepEqual(bare.references, []);
    assert.deepEqual(bare.signatures, []);
    assert.equal(formatNarinfo(bare), `StorePath: /nix/store/${H('a')}-x\nURL: nar/x.nar\nCompression: bzip2\nNarHash: sha256:${N32}\nNarSize: 8\nReferences: \n`);
  });

  it('refuses malformed narinfos, naming the line', () => {
    refused(replaceLine('StorePath', undefined), 'MISSING_FIELD');
    refused(replaceLine('URL', undefined), 'MISSING_FIELD');
    refused(replaceLine('NarHash', undefined), 'MISSING_FIELD');
    refused(replaceLine('NarSize', undefined), 'MISSING_FIELD');
    refused(replaceLine('NarSize', '0'), 'BAD_VALUE', 7);
    refused(replaceLine('NarSize', '012'), 'BAD_VALUE', 7);
    refused(replaceLine('NarSize', '-1'), 'BAD_VALUE', 7);
    refused(replaceLine('NarSize', '99999999999999999999'), 'BAD_VALUE', 7);
    refused(replaceLine('FileSize', 'x'), 'BAD_VALUE', 5);
    refused(replaceLine('StorePath', `/gnu/store/${H('a')}-x`), 'BAD_VALUE', 1);
    refused(replaceLine('URL', ''), 'BAD_VALUE', 2);
    refused(replaceLine('Compression', 'lz4'), 'BAD_VALUE', 3);
    refused(replaceLine('References', `${H('a')}-ok  ${H('b')}-double-space`), 'BAD_VALUE', 8);
    refused(replaceLine('References', `/nix/store/${H('a')}-full-path`), 'BAD_VALUE', 8);
    refused(replaceLine('Deriver', 'not-a-base-name'), 'BAD_VALUE', 9);
    refused(replaceLine('Sig', 'no-colon'), 'BAD_VALUE', 11);
    refused(replaceLine('Sig', `k:${Buffer.alloc(63).toString('base64')}`), 'BAD_VALUE', 11);
    refused(`${SAMPLE}CA: fixed:r:sha256:nothash\n`, 'BAD_VALUE', 12);
    refused(`${SAMPLE}NarSize: 1\n`, 'DUPLICATE_FIELD', 12);
    refused(SAMPLE.slice(0, -1), 'BAD_LINE');
    refused(SAMPLE.replace('URL: ', 'URL:'), 'BAD_LINE', 2);
    refused(SAMPLE.replace('\n', '\r\n'), 'BAD_LINE', 1);
    refused(`${SAMPLE}\n`, 'BAD_LINE', 12);
    refused(SAMPLE.replace('System: x86_64-linux', 'System: x86_64-linüx'), 'BAD_LINE', 10);
    refused(new Uint8Array([0xff, 0xfe, 0x0a]), 'NOT_TEXT');
    refused(SAMPLE + `X: ${'y'.repeat(MAX_NARINFO_BYTES)}\n`, 'TOO_LARGE');
  });

  it('round-trips any narinfo it can print', () => {
    const hash = fc.string({ unit: fc.constantFrom(...'0123456789abcdfghijklmnpqrsvwxyz'), minLength: 32, maxLength: 32 });
    const name = fc.string({ unit: fc.constantFrom(...'abcXYZ019+-._?='), minLength: 1, maxLength: 40 }).filter((n) => !n.startsWith('.'));
    const storePath = fc.tuple(hash, name).map(([h, n]) => `/nix/store/${h}-${n}`);
    const sig = fc.tuple(fc.constantFrom('k1', 'cache.example.org-1'), fc.uint8Array({ minLength: 64, maxLength: 64 })).map(([k, b]) => `${k}:${Buffer.from(b).toString('base64')}`);
    const arb: fc.Arbitrary<Narinfo> = fc.record({
      storePath,
      url: fc.constantFrom('nar/a.nar', 'nar/b.nar.xz', 'x'),
      compression: fc.constantFrom('none', 'xz', 'bzip2', 'zstd', 'br'),
      narHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      references: fc.array(storePath, { maxLength: 5 }),
      signatures: fc.array(sig, { maxLength: 3 }),
      fileHash: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
      fileSize: fc.option(fc.nat(), { nil: undefined }),
      deriver: fc.option(storePath.map((p) => `${p}.drv`), { nil: undefined }),
      system: fc.option(fc.constantFrom('x86_64-linux', 'aarch64-darwin'), { nil: undefined }),
      ca: fc.option(fc.tuple(fc.constantFrom('text:sha256:', 'fixed:r:sha256:', 'fixed:sha256:'), fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([p, b]) => p + nix32Encode(b)), { nil: undefined }),
    }, { requiredKeys: ['storePath', 'url', 'compression', 'narHash', 'narSize', 'references', 'signatures'] }).map((n) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(n)) if (v !== undefined) out[k] = v;
      return out as unknown as Narinfo;
    });
    fc.assert(fc.property(arb, (n) => {
      const text = formatNarinfo(n);
      const back = parseNarinfo(text);
      assert.equal(formatNarinfo(back), text);
      assert.deepEqual(back.references, [...new Set(n.references)].sort());
      assert.deepEqual(back.narHash, n.narHash);
      assert.equal(back.narSize, n.narSize);
      assert.equal(back.ca, n.ca);
    }));
  });

  it('parses content addresses in any hash encoding and prints them as Nix does', () => {
    const digest = createHash('sha256').update('ca').digest();
    for (const form of [`fixed:r:sha256:${digest.toString('hex')}`, `fixed:r:sha256:${nix32Encode(digest)}`, `fixed:r:sha256:${digest.toString('base64')}`]) {
      assert.equal(parseNarinfo(`${SAMPLE}CA: ${form}\n`).ca, `fixed:r:sha256:${nix32Encode(digest)}`);
    }
    const sha1 = createHash('sha1').update('x').digest();
    assert.equal(parseNarinfo(`${SAMPLE}CA: fixed:sha1:${sha1.toString('hex')}\n`).ca, `fixed:sha1:${nix32Encode(sha1)}`);
    refused(`${SAMPLE}CA: text:sha1:${sha1.toString('hex')}\n`, 'BAD_VALUE', 12);
    refused(`${SAMPLE}CA: fixed:r:sha3:${digest.toString('hex')}\n`, 'BAD_VALUE', 12);
  });
});

describe('PathInfo signatures and NixInfo', () => {
  const key = generateKeyPair('castor-test-1').secret;
  const other = generateKeyPair('castor-test-2').secret;
  const info: PathInfo = {
    storePath: `/nix/store/${H('a')}-hello`,
    narHash: new Uint8Array(narHash),
    narSize: 1234,
    references: [`/nix/store/${H('b')}-dep`, `/nix/store/${H('a')}-hello`],
    signatures: [],
    deriver: `/nix/store/${H('c')}-hello.drv`,
  };

  it('signs the fingerprint Nix signs, and checks signatures against trusted keys only', () => {
    assert.equal(pathInfoFingerprint(info), `1;/nix/store/${H('a')}-hello;sha256:${N32};1234;/nix/store/${H('a')}-hello,/nix/store/${H('b')}-dep`);
    const signed = signPathInfo(info, key);
    assert.ok(isSignedBy(signed, [publicKeyOf(key)]));
    assert.ok(!isSignedBy(signed, [publicKeyOf(other)]));
    assert.ok(!isSignedBy(info, [publicKeyOf(key)]));
    assert.deepEqual(validSignatureKeys(signPathInfo(signed, other), [publicKeyOf(key), publicKeyOf(other)]).sort(), ['castor-test-1', 'castor-test-2']);
    // Any signed field changed: the signature no longer holds.
    assert.ok(!isSignedBy({ ...signed, narSize: 1235 }, [publicKeyOf(key)]));
    assert.ok(!isSignedBy({ ...signed, references: [] }, [publicKeyOf(key)]));
    // A key of the same name but other bytes: no.
    const impostor = { ...publicKeyOf(other), name: 'castor-test-1' };
    assert.ok(!isSignedBy(signed, [impostor]));
  });

  it('maps to an IndexEntry and back unchanged (one shape for both)', () => {
    const node = { file: { name: new Uint8Array(0), digest: new Uint8Array(32).fill(9), size: 5n, executable: false } };
    const full: PathInfo = { ...signPathInfo(info, key), node, ca: `fixed:r:sha256:${N32}` };
    const entry = toIndexEntry(full);
    assert.equal(new TextDecoder().decode(entry.name), `${H('a')}-hello`);
    const bytes = encodeIndex([entry]);
    const back = fromIndexEntry(decodeEntryAt(bytes, 0, bytes.length));
    assert.deepEqual(back, { ...full, references: [...full.references].sort() });
  });
});
