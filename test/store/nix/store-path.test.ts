// Store path and base name checks as Nix makes them, and the 20-byte hash part.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  hashPartBytes, InvalidStorePathError, isStorePath, parseBaseName, parseStorePath,
} from '../../../src/store/nix/index.js';
import { nix32Encode } from '../../../src/verify/index.js';

const HASH = '7h4wkfdxh8v1rbbmg2ix1szmq7dg7fkh';
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=';

function refused(text: unknown, reason: string): void {
  assert.throws(() => parseStorePath(text), (err: unknown) => {
    assert.ok(err instanceof InvalidStorePathError, String(err));
    assert.equal(err.code, 'INVALID_STORE_PATH');
    assert.equal(err.reason, reason, `${String(text)}: ${err.message}`);
    assert.equal(err.value, text);
    return true;
  });
}

describe('store paths', () => {
  it('parses /nix/store/<hash>-<name> into its parts', () => {
    const p = parseStorePath(`/nix/store/${HASH}-hello-2.12.1`);
    assert.deepEqual(p, { hashPart: HASH, name: 'hello-2.12.1', baseName: `${HASH}-hello-2.12.1`, path: `/nix/store/${HASH}-hello-2.12.1` });
    assert.deepEqual(parseBaseName(`${HASH}-hello-2.12.1`), p);
    assert.ok(isStorePath(p.path));
  });

  it('accepts every name character Nix allows, up to 211 characters', () => {
    assert.equal(parseStorePath(`/nix/store/${HASH}-${'a'.repeat(211)}`).name.length, 211);
    assert.equal(parseStorePath(`/nix/store/${HASH}-x+-._?=Z9`).name, 'x+-._?=Z9');
  });

  it('refuses what Nix refuses, naming the rule and the path', () => {
    refused(`/nix/store/${HASH}-${'a'.repeat(212)}`, 'NAME_TOO_LONG');
    refused(`/nix/store/${HASH}-`, 'EMPTY_NAME');
    refused(`/nix/store/${HASH}`, 'EMPTY_NAME');
    refused(`/nix/store/${HASH}-.hidden`, 'DOT_NAME');
    for (const c of [' ', '/', '!', '~', 'é', ':', ';', ',', '\0', '\n']) {
      refused(`/nix/store/${HASH}-a${c}b`, c === '/' ? 'WRONG_STORE_DIR' : 'BAD_NAME_CHAR');
    }
    refused(`/nix/store/${HASH.replace('7', 'e')}-x`, 'BAD_HASH_PART'); // e, o, t, u are not nix32
    refused(`/nix/store/${HASH.slice(1)}-x`, 'BAD_HASH_PART');
    refused(`/nix/store/${HASH.toUpperCase()}-x`, 'BAD_HASH_PART');
    refused(`/gnu/store/${HASH}-x`, 'WRONG_STORE_DIR');
    refused(`/nix/store/${HASH}-x/bin/hello`, 'WRONG_STORE_DIR');
    refused(`/nix/store//${HASH}-x`, 'WRONG_STORE_DIR');
    refused(`${HASH}-x`, 'WRONG_STORE_DIR');
    refused(42, 'NOT_TEXT');
    assert.match((() => { try { parseStorePath(`/tmp/${HASH}-x`); } catch (e) { return (e as Error).message; } return ''; })(), /only the store dir \/nix\/store is supported/u);
  });

  it('decodes the hash part to the 20 bytes it stands for', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
      assert.deepEqual(hashPartBytes(nix32Encode(bytes)), bytes);
    }));
  });

  it('agrees with a plain reimplementation of the rules on random text', () => {
    const arbName = fc.string({ unit: fc.constantFrom(...NAME_CHARS, ' ', '/', '%', 'é'), minLength: 0, maxLength: 215 });
    const arbHash = fc.string({ unit: fc.constantFrom(...NIX32, 'e', 'A'), minLength: 31, maxLength: 33 });
    fc.assert(fc.property(arbHash, arbName, (hash, name) => {
      const ok = /^[0-9a-df-np-sv-z]{32}$/u.test(hash) && name.length > 0 && name.length <= 211
        && /^[A-Za-z0-9+\-._?=]+$/u.test(name) && !name.startsWith('.');
      assert.equal(isStorePath(`/nix/store/${hash}-${name}`), ok, `${hash}-${name}`);
    }));
  });
});
