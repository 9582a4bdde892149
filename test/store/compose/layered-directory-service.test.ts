// LayeredDirectoryService: the DirectoryService contract (written to the local tier, and
// written below it so every first read comes through a lower tier), then write-through
// order, call counts, and lower tiers that lie, leave things out or are stopped early.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Directory, directoryDigest, encodeDirectory } from '../../../src/store/castore/index.js';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { type Digest, formatDigest } from '../../../src/store/digest.js';
import type { DirectoryService } from '../../../src/store/directory-service.js';
import { LayeredDirectoryService } from '../../../src/store/compose/layered-directory-service.js';
import { MemoryDirectoryService } from '../../../src/store/directories/memory-directory-service.js';
import { TierHashMismatchError, TierMissingChildError } from '../../../src/store/compose/tier-errors.js';
import { toHex } from '../../../src/verify/blake3/index.js';
import { DIRECTORY_A, DIRECTORY_B, DIRECTORY_C, DIRECTORY_COMPLICATED, DIRECTORY_D, DIRECTORY_WITH_KEEP, bytes, childOf } from '../castore/fixtures.js';
import { directoryServiceSuite } from '../directory-service-suite.js';

class TamperableMemoryDirectoryService extends MemoryDirectoryService {
  writeRaw(digest: Digest, data: Uint8Array): Promise<void> {
    return this._write(digest, data);
  }
}

/** Reads through `layered`, puts into `below`. */
function writtenBelow(layered: LayeredDirectoryService, below: DirectoryService): DirectoryService {
  return {
    put: (d) => below.put(d),
    get: (d) => layered.get(d),
    getRecursive: (d) => layered.getRecursive(d),
  };
}

directoryServiceSuite('LayeredDirectoryService (memory over two memory tiers)', async () => {
  const local = new TamperableMemoryDirectoryService();
  return {
    service: new LayeredDirectoryService(local, [new MemoryDirectoryService(), new MemoryDirectoryService()]),
    writeRaw: (d, b) => local.writeRaw(d, b),
  };
});

directoryServiceSuite('LayeredDirectoryService, Directories put into the lower tier', async () => {
  const lower = new TamperableMemoryDirectoryService();
  const layered = new LayeredDirectoryService(new MemoryDirectoryService(), [new MemoryDirectoryService(), lower]);
  return { service: writtenBelow(layered, lower), writeRaw: (d, b) => lower.writeRaw(d, b) };
});

directoryServiceSuite('LayeredDirectoryService, disk over disk, Directories put into the lower tier', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-layered-dirs-'));
  await mkdir(path.join(dir, 'local'));
  await mkdir(path.join(dir, 'lower'));
  const local = await openDataDir(path.join(dir, 'local'), { durable: false });
  const lower = await openDataDir(path.join(dir, 'lower'), { durable: false });
  return {
    service: writtenBelow(new LayeredDirectoryService(local.directories, [lower.directories]), lower.directories),
    writeRaw: async (digest, data) => {
      const file = lower.layout.dirPath(digest);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, data);
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
});

const hexOf = (d: Directory): string => toHex(directoryDigest(d));
const digestOf = (d: Directory): Digest => directoryDigest(d);

/** Counts calls, records put order, and can swap what it answers or leave Directories out. */
class Tier implements DirectoryService {
  calls = { put: 0, get: 0, getRecursive: 0 };
  readonly putOrder: string[] = [];
  /** Directory to answer instead, per digest hex (get, and in getRecursive). */
  readonly swap = new Map<string, Directory>();
  /** Digests getRecursive leaves out. */
  readonly omit = new Set<string>();
  /** Directories getRecursive sends after the tree. */
  readonly extra: Directory[] = [];
  /** getRecursive yields this order instead, when set. */
  order: Directory[] | undefined;

  constructor(readonly inner = new MemoryDirectoryService()) {}

  async put(d: Directory): Promise<Digest> {
    this.calls.put++;
    const digest = await this.inner.put(d);
    this.putOrder.push(formatDigest(digest));
    return digest;
  }

  async get(d: Digest): Promise<Directory | undefined> {
    this.calls.get++;
    return this.swap.get(toHex(d)) ?? this.inner.get(d);
  }

  async *getRecursive(root: Digest): AsyncIterable<Directory> {
    this.calls.getRecursive++;
    if (this.order) {
      if (await this.inner.get(root)) yield* this.order;
      return;
    }
    for await (const d of this.inner.getRecursive(root)) {
      if (this.omit.has(hexOf(d))) continue;
      yield this.swap.get(hexOf(d)) ?? d;
    }
    yield* this.extra;
  }
}

async function putAll(s: DirectoryService, dirs: Directory[]): Promise<void> {
  for (const d of dirs) await s.put(d);
}

async function collect(it: AsyncIterable<Directory>): Promise<{ got: string[]; err: unknown }> {
  const got: string[] = [];
  try {
    for await (const d of it) got.push(hexOf(d));
  } catch (err: unknown) {
    return { got, err };
  }
  return { got, err: undefined };
}

/** R{w: Y, x: X{y: Y}, z: Z}: breadth-first R, Y, X, Z (Y where it is first named, at level 1); depth-first R, Y, X, Z too, so tests also reorder. */
function tree(): { R: Directory; X: Directory; Y: Directory; Z: Directory; all: Directory[] } {
  const Y = DIRECTORY_WITH_KEEP;
  const X: Directory = { directories: [childOf('y', Y)], files: [], symlinks: [] };
  const Z: Directory = { directories: [], files: [], symlinks: [{ name: bytes('l'), target: bytes('../x') }] };
  const R: Directory = { directories: [childOf('w', Y), childOf('x', X), childOf('z', Z)], files: [], symlinks: [] };
  return { R, X, Y, Z, all: [Y, X, Z, R] };
}

function setup(lowers = 1): { local: Tier; lowers: Tier[]; layered: LayeredDirectoryService } {
  const local = new Tier();
  const tiers = Array.from({ length: lowers }, () => new Tier());
  return { local, lowers: tiers, layered: new LayeredDirectoryService(local, tiers, { names: ['fs:///local', 'p2p://a', 'p2p://b'] }) };
}

describe('LayeredDirectoryService', () => {
  it('getRecursive from a lower tier: breadth-first, written through leaves first; the next walk is local', async () => {
    const { local, lowers: [a, b], layered } = setup(2);
    const { R, X, Y, Z, all } = tree();
    await putAll(b!.inner, all);
    const { got, err } = await collect(layered.getRecursive(digestOf(R)));
    assert.equal(err, undefined);
    assert.deepEqual(got, [R, Y, X, Z].map(hexOf));
    assert.equal(a!.calls.getRecursive, 1, 'asked the first lower tier, which has nothing');
    // Each put came after the puts of everything it names.
    assert.deepEqual(local.putOrder, [Y, X, Z, R].map(hexOf));
    assert.equal(local.inner.size, 4);
    const before = { ...b!.calls };
    assert.deepEqual((await collect(layered.getRecursive(digestOf(R)))).got, [R, Y, X, Z].map(hexOf));
    assert.deepEqual((await collect(layered.getRecursive(digestOf(X)))).got, [X, Y].map(hexOf));
    assert.ok(await layered.get(digestOf(Z)));
    assert.deepEqual(b!.calls, before, 'the lower tier is not asked again');
  });

  it('leaves first with shared subtrees: tvix D{a: A, b: B{a: A}} and C{a: A, a\': A}', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(a!.inner, [DIRECTORY_A, DIRECTORY_B, DIRECTORY_C, DIRECTORY_D]);
    assert.deepEqual((await collect(layered.getRecursive(digestOf(DIRECTORY_D)))).got, [DIRECTORY_D, DIRECTORY_A, DIRECTORY_B].map(hexOf));
    assert.deepEqual(local.putOrder, [DIRECTORY_A, DIRECTORY_B, DIRECTORY_D].map(hexOf));
    assert.deepEqual((await collect(layered.getRecursive(digestOf(DIRECTORY_C)))).got, [DIRECTORY_C, DIRECTORY_A].map(hexOf));
    assert.equal(local.inner.size, 4);
  });

  it('a local root is walked locally, even if a lower tier has it too', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(local.inner, [DIRECTORY_A, DIRECTORY_B]);
    await putAll(a!.inner, [DIRECTORY_A, DIRECTORY_B]);
    assert.deepEqual((await collect(layered.getRecursive(digestOf(DIRECTORY_B)))).got, [DIRECTORY_B, DIRECTORY_A].map(hexOf));
    assert.equal(a!.calls.getRecursive, 0);
    assert.deepEqual(await layered.get(digestOf(DIRECTORY_B)) !== undefined, true);
    assert.equal(a!.calls.get, 0);
  });

  it('get from a lower tier writes through once the children are local', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(a!.inner, [DIRECTORY_A, DIRECTORY_B]);
    const b = await layered.get(digestOf(DIRECTORY_B));
    assert.deepEqual(encodeDirectory(b!), encodeDirectory(DIRECTORY_B));
    assert.equal(local.inner.size, 0, 'its child is not local: returned, not stored');
    assert.ok(await layered.get(digestOf(DIRECTORY_A)));
    assert.ok(await layered.get(digestOf(DIRECTORY_B)));
    assert.equal(local.inner.size, 2);
    const gets = a!.calls.get;
    await layered.get(digestOf(DIRECTORY_B));
    assert.equal(a!.calls.get, gets);
  });

  it('get: a lower tier that answers with another Directory is refused, nothing stored', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await a!.inner.put(DIRECTORY_WITH_KEEP);
    a!.swap.set(hexOf(DIRECTORY_WITH_KEEP), DIRECTORY_A);
    await assert.rejects(layered.get(digestOf(DIRECTORY_WITH_KEEP)), (err: unknown) => {
      assert.ok(err instanceof TierHashMismatchError);
      assert.equal(err.code, 'HASH_MISMATCH');
      assert.equal(err.tier, 'p2p://a');
      assert.equal(err.value, hexOf(DIRECTORY_WITH_KEEP));
      assert.equal(toHex(err.actual!), hexOf(DIRECTORY_A));
      return true;
    });
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: a child swapped for another Directory is refused; nothing of the tree is stored', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const { R, Y, X, all } = tree();
    await putAll(a!.inner, all);
    a!.swap.set(hexOf(X), DIRECTORY_A);
    const { got, err } = await collect(layered.getRecursive(digestOf(R)));
    assert.deepEqual(got, [R, Y].map(hexOf));
    assert.ok(err instanceof TierHashMismatchError);
    assert.equal(toHex(err.expected), hexOf(X));
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: a root that is not the one asked for is refused', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(a!.inner, [DIRECTORY_A, DIRECTORY_B]);
    a!.swap.set(hexOf(DIRECTORY_B), DIRECTORY_A);
    const { got, err } = await collect(layered.getRecursive(digestOf(DIRECTORY_B)));
    assert.deepEqual(got, []);
    assert.equal((err as { code?: unknown }).code, 'HASH_MISMATCH');
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: a tree that ends short is MISSING_CHILD naming the tier; nothing stored', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const { R, X, Y, Z, all } = tree();
    await putAll(a!.inner, all);
    a!.omit.add(hexOf(Z));
    const { got, err } = await collect(layered.getRecursive(digestOf(R)));
    assert.deepEqual(got, [R, Y, X].map(hexOf));
    assert.ok(err instanceof TierMissingChildError);
    assert.equal(err.code, 'MISSING_CHILD');
    assert.equal(toHex(err.child), hexOf(Z));
    assert.match(err.message, /p2p:\/\/a/);
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: a tree sent depth-first is refused (the order is part of the contract)', async () => {
    const { local, lowers: [a], layered } = setup(1);
    const { R, X, Y, Z, all } = tree();
    await putAll(a!.inner, all);
    a!.order = [R, Y, X, Y, Z];
    const { err } = await collect(layered.getRecursive(digestOf(R)));
    assert.equal((err as { code?: unknown }).code, 'HASH_MISMATCH');
    a!.order = [R, X, Y, Z];
    assert.equal((await collect(layered.getRecursive(digestOf(R)))).err instanceof TierHashMismatchError, true);
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: a DirectoryNode whose size is wrong is SIZE_MISMATCH, nothing stored', async () => {
    const local = new Tier();
    const lying: Directory = { directories: [{ ...childOf('k', DIRECTORY_WITH_KEEP), size: 9n }], files: [], symlinks: [] };
    // A tier that does no checks of its own (a peer could be anything).
    const careless: DirectoryService = {
      put: async () => { throw new Error('read-only'); },
      get: async () => undefined,
      getRecursive: () => (async function* () { yield* [lying, DIRECTORY_WITH_KEEP]; })(),
    };
    const layered = new LayeredDirectoryService(local, [careless]);
    const { got, err } = await collect(layered.getRecursive(digestOf(lying)));
    assert.deepEqual(got, [hexOf(lying)]);
    assert.equal((err as { code?: unknown }).code, 'SIZE_MISMATCH');
    assert.equal(local.inner.size, 0);
  });

  it('getRecursive: what the tier sends after the tree is not read', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(a!.inner, [DIRECTORY_A, DIRECTORY_B]);
    a!.extra.push(DIRECTORY_COMPLICATED);
    assert.deepEqual((await collect(layered.getRecursive(digestOf(DIRECTORY_B)))).got, [DIRECTORY_B, DIRECTORY_A].map(hexOf));
    assert.equal(local.inner.size, 2);
  });

  it('getRecursive stopped early stores nothing, and stops the lower tier\'s walk', async () => {
    const { local, lowers: [a] } = setup(1);
    const { R, all } = tree();
    await putAll(a!.inner, all);
    let stopped = false;
    const walking: DirectoryService = {
      put: (d) => a!.put(d), get: (d) => a!.get(d),
      getRecursive: (d) => (async function* () { try { yield* a!.getRecursive(d); } finally { stopped = true; } })(),
    };
    const l2 = new LayeredDirectoryService(local, [walking]);
    for await (const d of l2.getRecursive(digestOf(R))) { assert.ok(d); break; }
    assert.equal(stopped, true);
    assert.equal(local.inner.size, 0);
  });

  it('what a caller does to yielded Directories does not reach the local tier', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await putAll(a!.inner, [DIRECTORY_WITH_KEEP, DIRECTORY_COMPLICATED]);
    for await (const d of layered.getRecursive(digestOf(DIRECTORY_COMPLICATED))) {
      for (const f of d.files) (f.name as Uint8Array)[0] = 0x2f;
    }
    const back = await local.inner.get(digestOf(DIRECTORY_WITH_KEEP));
    assert.deepEqual(encodeDirectory(back!), encodeDirectory(DIRECTORY_WITH_KEEP));
  });

  it('put goes to the local tier only, with its checks', async () => {
    const { local, lowers: [a], layered } = setup(1);
    await a!.inner.put(DIRECTORY_A);
    await assert.rejects(layered.put(DIRECTORY_B), { code: 'MISSING_CHILD' });
    await layered.put(DIRECTORY_A);
    await layered.put(DIRECTORY_B);
    assert.equal(local.inner.size, 2);
    assert.equal(a!.inner.size, 1);
    await assert.rejects(layered.get(new Uint8Array(3) as Digest), { code: 'INVALID_DIGEST' });
  });
});
