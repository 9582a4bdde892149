// Store specs: parsing (table-driven), the scheme registry, and openStores with one
// store and with layered tiers, on memory and on disk.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsBlobService } from '../../../src/store/disk/fs-blob-service.js';
import { LayeredBlobService } from '../../../src/store/compose/layered-blob-service.js';
import { LayeredDirectoryService } from '../../../src/store/compose/layered-directory-service.js';
import { MemoryBlobService } from '../../../src/store/blobs/memory-blob-service.js';
import { MemoryDirectoryService } from '../../../src/store/directories/memory-directory-service.js';
import {
  type OpenedStore, type StoreOpenContext, type StoreSpec,
  dataDirSpec, knownSchemes, openStores, parseStoreSpec, registerStoreScheme,
} from '../../../src/store/compose/store-spec.js';
import { directoryDigest } from '../../../src/store/castore/index.js';
import { DIRECTORY_A, DIRECTORY_B } from '../castore/fixtures.js';
import { put, randomBytes, readAll } from '../blob-service-suite.js';

async function withTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-spec-'));
  try { await body(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

/** Registers `scheme` for the test's duration with a memory store that records how it was used. */
async function withScheme(
  scheme: string,
  body: (log: { opened: [StoreSpec, StoreOpenContext][]; closed: string[] }) => Promise<void>,
  behave: { failOpen?: string; failClose?: string } = {},
): Promise<void> {
  const log = { opened: [] as [StoreSpec, StoreOpenContext][], closed: [] as string[] };
  const undo = registerStoreScheme(scheme, async (spec, context): Promise<OpenedStore> => {
    if (spec.rest === behave.failOpen) throw new Error(`cannot open ${spec.text}`);
    log.opened.push([spec, context]);
    return {
      blobs: new MemoryBlobService(),
      directories: new MemoryDirectoryService(),
      close: async () => {
        log.closed.push(spec.rest);
        if (spec.rest === behave.failClose) throw new Error(`cannot close ${spec.text}`);
      },
    };
  });
  try { await body(log); } finally { undo(); }
}

describe('parseStoreSpec', () => {
  const good: [string, string, string][] = [
    ['memory://', 'memory', ''],
    ['MEMORY://', 'memory', ''],
    ['fs:///var/lib/castor', 'fs', '/var/lib/castor'],
    ['fs:///with space/and#hash?and%20percent', 'fs', '/with space/and#hash?and%20percent'],
    ['p2p://12D3KooW…/ip4/127.0.0.1/tcp/4001', 'p2p', '12D3KooW…/ip4/127.0.0.1/tcp/4001'],
    ['objectstore+file://x', 'objectstore+file', 'x'],
  ];
  for (const [text, scheme, rest] of good) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseStoreSpec(text), { text, scheme, rest });
    });
  }

  const bad: [string, RegExp][] = [
    ['', /SCHEME:\/\//],
    ['memory', /SCHEME:\/\//],
    ['memory:', /SCHEME:\/\//],
    ['fs:/var/lib', /SCHEME:\/\//],
    ['/var/lib/castor', /fs:\/\/\/var\/lib\/castor/],
    ['://x', /SCHEME/],
    ['1fs:///x', /SCHEME/],
    ['f s:///x', /SCHEME/],
    ['fs:///a\0b', /NUL/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)} with INVALID_STORE_SPEC`, () => {
      assert.throws(() => parseStoreSpec(text), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 'INVALID_STORE_SPEC');
        assert.equal((err as { value?: unknown }).value, text);
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }

  it('dataDirSpec makes an absolute fs:// spec that parses back to the path', () => {
    const spec = parseStoreSpec(dataDirSpec('some/rel/../dir'));
    assert.equal(spec.scheme, 'fs');
    assert.equal(spec.rest, path.resolve('some/dir'));
  });
});

describe('openStores', () => {
  it('one memory:// spec is that store itself, not a layered one', async () => {
    const s = await openStores(['memory://']);
    assert.ok(s.blobs instanceof MemoryBlobService);
    assert.ok(s.directories instanceof MemoryDirectoryService);
    assert.equal(s.tiers.length, 1);
    assert.equal(s.tiers[0]!.spec.text, 'memory://');
    await s.close();
    await s.close();
  });

  const refused: [string[], string, unknown][] = [
    [[], 'INVALID_STORE_SPEC', []],
    [['nope://x'], 'UNKNOWN_STORE_SCHEME', 'nope://x'],
    [['memory://', 'Nope://'], 'UNKNOWN_STORE_SCHEME', 'Nope://'],
    [['memory://x'], 'INVALID_STORE_SPEC', 'memory://x'],
    [['fs://'], 'INVALID_STORE_SPEC', 'fs://'],
    [['fs://./rel'], 'INVALID_STORE_SPEC', 'fs://./rel'],
    [['fs://host/path'], 'INVALID_STORE_SPEC', 'fs://host/path'],
    [['memory://', 'fs'], 'INVALID_STORE_SPEC', 'fs'],
  ];
  for (const [specs, code, value] of refused) {
    it(`${JSON.stringify(specs)} is ${code} naming ${JSON.stringify(value)}`, async () => {
      await assert.rejects(openStores(specs), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, code);
        assert.deepEqual((err as { value?: unknown }).value, value);
        return true;
      });
    });
  }

  it('an unknown scheme lists the known ones', async () => {
    await assert.rejects(openStores(['s3://bucket']), (err: unknown) => {
      assert.match((err as Error).message, /s3:\/\/bucket.*unknown scheme s3:\/\/.*fs:\/\/, memory:\/\//);
      return true;
    });
  });

  it('a malformed or unknown spec anywhere in the list opens nothing', async () => {
    await withScheme('probe', async (log) => {
      await assert.rejects(openStores(['probe://a', 'memory://', 'what://']), { code: 'UNKNOWN_STORE_SCHEME' });
      await assert.rejects(openStores(['probe://a', 'bad']), { code: 'INVALID_STORE_SPEC' });
      assert.equal(log.opened.length, 0);
    });
  });

  it('fs:// opens the data dir; a missing one is DATA_DIR_MISSING unless create, which only the local tier gets', () => withTemp(async (dir) => {
    const local = path.join(dir, 'local');
    const lower = path.join(dir, 'lower');
    await assert.rejects(openStores([`fs://${local}`]), { code: 'DATA_DIR_MISSING' });
    await assert.rejects(openStores([`fs://${local}`, `fs://${lower}`], { create: true }), { code: 'DATA_DIR_MISSING', value: lower });
    const s = await openStores([`fs://${local}/`], { create: true, durable: false });
    assert.ok((await stat(local)).isDirectory());
    assert.ok(s.blobs instanceof FsBlobService);
    assert.equal(s.tiers[0]!.dataDir?.layout.root, local);
    await s.close();
  }));

  it('the factory gets the parsed spec and its role; close runs on every tier, lower tiers first', async () => {
    await withScheme('probe', async (log) => {
      const s = await openStores(['probe://one', 'probe://two', 'PROBE://three'], { create: true });
      assert.deepEqual(log.opened.map(([spec, ctx]) => [spec.rest, ctx.role, ctx.create]), [
        ['one', 'local', true], ['two', 'lower', false], ['three', 'lower', false],
      ]);
      assert.ok(s.blobs instanceof LayeredBlobService);
      assert.ok(s.directories instanceof LayeredDirectoryService);
      await s.close();
      assert.deepEqual(log.closed, ['three', 'two', 'one']);
    });
  });

  it('a tier that fails to open closes those already open, and its error is the one thrown', async () => {
    await withScheme('probe', async (log) => {
      await assert.rejects(openStores(['probe://one', 'probe://two', 'probe://bad']), /cannot open probe:\/\/bad/);
      assert.deepEqual(log.closed, ['two', 'one']);
    }, { failOpen: 'bad' });
  });

  it('a tier that fails to close: the others are still closed, then its error is thrown', async () => {
    await withScheme('probe', async (log) => {
      const s = await openStores(['probe://one', 'probe://two', 'probe://three']);
      await assert.rejects(s.close(), /cannot close probe:\/\/two/);
      assert.deepEqual(log.closed, ['three', 'two', 'one']);
    }, { failClose: 'two' });
  });

  it('registerStoreScheme: one factory per scheme, valid names only, undone by what it returns', () => {
    const factory = async (): Promise<OpenedStore> => ({ blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });
    assert.throws(() => registerStoreScheme('fs', factory), { code: 'STORE_SCHEME_TAKEN', value: 'fs' });
    assert.throws(() => registerStoreScheme('P2P', factory), { code: 'INVALID_INPUT' });
    assert.throws(() => registerStoreScheme('a b', factory), { code: 'INVALID_INPUT' });
    const undo = registerStoreScheme('extra', factory);
    assert.ok(knownSchemes().includes('extra'));
    undo();
    undo();
    assert.ok(!knownSchemes().includes('extra'));
    assert.ok(knownSchemes().includes('fs'));
  });

  it('fs:// over fs://: blobs and trees come through from the lower data dir and stay in the local one', () => withTemp(async (dir) => {
    const localDir = path.join(dir, 'local');
    const lowerDir = path.join(dir, 'lower');
    const lower = await openStores([dataDirSpec(lowerDir)], { create: true, durable: false });
    const data = randomBytes(700_000, 31);
    const d = await put(lower.blobs, data);
    await lower.directories.put(DIRECTORY_A);
    const root = await lower.directories.put(DIRECTORY_B);
    await lower.close();

    const both = await openStores([dataDirSpec(localDir), dataDirSpec(lowerDir)], { create: true, durable: false });
    assert.ok(Buffer.from(await readAll(both.blobs, d)).equals(Buffer.from(data)));
    const tree: string[] = [];
    for await (const x of both.directories.getRecursive(root)) tree.push(Buffer.from(directoryDigest(x)).toString('hex'));
    assert.equal(tree.length, 2);
    await both.close();

    const local = await openStores([dataDirSpec(localDir)]);
    assert.equal(await local.blobs.has(d), true);
    assert.ok(await local.directories.get(root));
    await local.close();
  }));

  it('a lying lower tier is named by its spec in the error', async () => {
    // Stores what it is given, answers reads with other bytes.
    const undo = registerStoreScheme('liar', async () => {
      const real = new MemoryBlobService();
      return {
        directories: new MemoryDirectoryService(),
        blobs: {
          has: (x) => real.has(x), stat: (x) => real.stat(x), openWriter: () => real.openWriter(),
          read: async () => (async function* () { yield randomBytes(1000, 99); })(),
        },
      };
    });
    try {
      const s = await openStores(['memory://', 'liar://peer']);
      const liar = s.tiers[1]!.blobs;
      const d = await put(liar, randomBytes(1000, 1));
      await assert.rejects(readAll(s.blobs, d), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 'HASH_MISMATCH');
        assert.match((err as Error).message, /liar:\/\/peer/);
        return true;
      });
      assert.equal(await s.tiers[0]!.blobs.has(d), false);
      await s.close();
    } finally {
      undo();
    }
  });
});
