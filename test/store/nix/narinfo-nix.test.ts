// Against real Nix 2.8 (test/support/nix-env.ts): the test closure it builds, binary caches
// `nix copy --to file://` writes in every compression; their narinfos parse and print back
// byte for byte, their signatures verify with the env's key, their NAR files decompress to
// the NarHash and to what `nix store dump-path` gives. Skipped where `nix` is missing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  type Compression, decodePrefixedHash, decompress, formatNarinfo, isSignedBy, parseNarinfo, parseStorePath,
} from '../../../src/store/nix/index.js';
import { parsePublicKey } from '../../../src/verify/index.js';
import { makeNixEnv, type NixClosure, type NixEnv, skipWithoutNix } from '../../support/nix-env.js';

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> { yield b; }

async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ hash: Buffer; bytes: Buffer }> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(Buffer.from(p));
  const bytes = Buffer.concat(parts);
  return { hash: createHash('sha256').update(bytes).digest(), bytes };
}

describe('narinfos and NARs written by real Nix', { skip: skipWithoutNix }, () => {
  let env: NixEnv;
  let closure: NixClosure;

  before(async () => {
    env = await makeNixEnv();
    closure = await env.makeClosure();
  });
  after(async () => { await env?.cleanup(); });

  it('nix-env builds the closure the tests need, signed', () => {
    const info = closure.info;
    assert.match(info.get(closure.tree)!.ca ?? '', /^fixed:r:sha256:/u, 'the tree is content-addressed');
    assert.match(info.get(closure.text)!.ca ?? '', /^text:sha256:/u);
    assert.deepEqual(info.get(closure.text)!.references, [closure.textDep]);
    const built = info.get(closure.built)!;
    assert.equal(built.ca, undefined, 'the built path is input-addressed');
    assert.match(built.deriver ?? '', /\.drv$/u);
    assert.deepEqual(built.references, [closure.tree]);
    for (const p of [closure.built, closure.tree, closure.text]) {
      assert.ok((info.get(p)!.signatures ?? []).some((s) => s.startsWith('castor-test-1:')), `${p} is signed`);
    }
  });

  for (const compression of ['xz', 'zstd', 'bzip2', 'br', 'none'] as const) {
    it(`parses, verifies and decompresses a file:// cache in ${compression}`, async () => {
      const dir = path.join(env.dir, `cache-${compression}`);
      const url = `file://${dir}${compression === 'xz' ? '' : `?compression=${compression}`}`; // xz is Nix's default
      await env.ok('nix', ['copy', '--store', env.store, '--to', url, ...closure.all]);
      const key = parsePublicKey(env.publicKey);
      const names = (await readdir(dir)).filter((n) => n.endsWith('.narinfo'));
      assert.equal(names.length, closure.all.length);
      for (const name of names) {
        const text = await readFile(path.join(dir, name), 'utf8');
        const n = parseNarinfo(text);
        assert.equal(formatNarinfo(n), text, `${name}: printed back byte for byte`);
        assert.equal(`${parseStorePath(n.storePath).hashPart}.narinfo`, name);
        assert.equal(n.compression, compression as Compression);
        const nix = closure.info.get(n.storePath)!;
        assert.deepEqual(n.narHash, decodePrefixedHash(nix.narHash, 'sha256')?.digest, `NarHash is nix path-info's ${nix.narHash}`);
        assert.equal(n.narSize, nix.narSize);
        assert.deepEqual(n.references, [...nix.references].sort());
        assert.equal(n.ca, nix.ca);
        if (n.ca === undefined || (nix.signatures ?? []).length > 0) assert.ok(isSignedBy(n, [key]), `${n.storePath}: signature verifies`);
        assert.ok(!isSignedBy({ ...n, narSize: n.narSize + 1 }, [key]), 'and would not for another narSize');
        const file = await readFile(path.join(dir, n.url));
        assert.equal(file.length, n.fileSize);
        assert.ok(createHash('sha256').update(file).digest().equals(Buffer.from(n.fileHash!)), 'FileHash is the file\'s sha256');
        const { hash, bytes } = await sha256Of(decompress(n.compression, once(file)));
        assert.ok(hash.equals(Buffer.from(n.narHash)), `${n.storePath}: decompressed NAR matches NarHash`);
        assert.equal(bytes.length, n.narSize);
        if (n.storePath === closure.built) assert.ok(bytes.equals(await env.dumpPath(n.storePath)), 'and is what nix store dump-path gives');
      }
    });
  }

  it('a fresh env substitutes from such a cache with the key, and refuses it without', async () => {
    const dir = path.join(env.dir, 'cache-xz');
    const other = await env.fresh();
    try {
      const refused = await other.run('nix', ['copy', '--store', other.store, '--from', `file://${dir}`, closure.built]);
      assert.notEqual(refused.code, 0, 'no trusted key: refused');
      await other.ok('nix', ['copy', '--store', other.store, '--from', `file://${dir}`, '--option', 'trusted-public-keys', env.publicKey, closure.built]);
      const [got] = await other.pathInfo([closure.built]);
      assert.equal(got!.narHash, closure.info.get(closure.built)!.narHash);
    } finally {
      await other.cleanup();
    }
  });
});
