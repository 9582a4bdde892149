// openBinaryCache: URLs it takes, and narinfo URLs that would leave the cache refused.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BinaryCacheError, openBinaryCache } from '../../../src/store/nix/index.js';

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

describe('openBinaryCache', () => {
  it('refuses other schemes and URLs with a query', () => {
    for (const url of ['s3://bucket', 'ssh://host', 'file:///x?compression=none', 'not a url']) {
      assert.throws(() => openBinaryCache(url), (e: unknown) => e instanceof BinaryCacheError && e.reason === 'BAD_URL', url);
    }
  });

  it('reads a file:// cache and refuses narinfo URLs outside it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-bc-'));
    try {
      await writeFile(path.join(dir, 'nix-cache-info'), 'StoreDir: /nix/store\n');
      await writeFile(path.join(dir, 'secret'), 'no');
      const cache = openBinaryCache(pathToFileURL(dir).href);
      await cache.checkInfo();
      assert.equal(await cache.narinfo('0'.repeat(32)), undefined);
      for (const bad of ['../secret', '/etc/passwd', 'nar/../../secret', 'nar//x', 'http://elsewhere/x']) {
        await assert.rejects(drain(cache.nar(bad)), (e: unknown) => e instanceof BinaryCacheError && e.reason === 'BAD_URL', bad);
      }
      await writeFile(path.join(dir, 'nix-cache-info'), 'StoreDir: /gnu/store\n');
      await assert.rejects(cache.checkInfo(), (e: unknown) => e instanceof BinaryCacheError && e.reason === 'WRONG_STORE_DIR');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
