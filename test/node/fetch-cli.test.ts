// castor fetch as a process against a serving node in another: JSON output, OUTPUT
// written like `castor get`, and exit statuses (1 for what no peer has, 2 for usage).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDigest } from '../../src/store/digest.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { assertSameTree } from '../store/tree-fixture.js';
import { dataDir, putBlob, randomBytes, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';
import { startHostile } from '../support/hostile-process.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
let root: string;
let server: ServerProcess;
let blob: Uint8Array;
let blobHex: string;
let treeHex: string;

const castor = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

before(async () => {
  root = await tempDir('node-fetch-cli');
  const served = await dataDir(root, 'server');
  blob = randomBytes(1_500_000);
  blobHex = formatDigest(await putBlob(served, blob));
  await mkdir(path.join(root, 'tree', 'sub'), { recursive: true });
  await writeFile(path.join(root, 'tree', 'sub', 'a'), randomBytes(1000));
  await writeFile(path.join(root, 'tree', 'b'), 'bee');
  treeHex = formatDigest((await ingestPath(path.join(root, 'tree'), served)).digest);
  server = await startServer(path.join(root, 'server'));
});

after(async () => {
  await server?.stop();
  await removeDir(root);
});

test('fetch a blob and a tree with OUTPUT and --json', async () => {
  const data = path.join(root, 'client');
  const r = castor('fetch', blobHex, path.join(root, 'blob-out'), '--peer', server.address, '--data-dir', data, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { digest: blobHex, type: 'blob', bytes: blob.length, fetched_bytes: blob.length, files: 1, output: path.join(root, 'blob-out') });
  assert.ok((await readFile(path.join(root, 'blob-out'))).equals(blob));
  const t = castor('fetch', treeHex, path.join(root, 'tree-out'), '--peer', server.address, '--data-dir', data);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stdout, '');
  await assertSameTree(path.join(root, 'tree-out'), path.join(root, 'tree'));
  // Already local: nothing moves, and `castor cat` reads it from the store.
  const again = castor('fetch', blobHex, '--peer', server.address, '--data-dir', data, '--json');
  assert.equal(JSON.parse(again.stdout).fetched_bytes, 0);
});

test('exit statuses: 1 when no peer has it or a peer cannot be reached, 2 for usage', () => {
  const data = path.join(root, 'client-errors');
  const missing = castor('fetch', '00'.repeat(32), '--peer', server.address, '--data-dir', data);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, new RegExp(`^castor: .*not held by peer ${server.peerId}`));
  assert.equal(castor('fetch', blobHex, '--peer', '/ip4/127.0.0.1/tcp/1', '--data-dir', data).status, 1);
  assert.equal(castor('fetch', blobHex, '--data-dir', data).status, 2);
  assert.equal(castor('fetch', 'xyz', '--peer', server.address, '--data-dir', data).status, 2);
  assert.equal(castor('fetch', blobHex, '--peer', '/ip4/nope', '--data-dir', data).status, 2);
  assert.equal(castor('fetch', '--help').status, 0);
});

test('a peer that flips a byte is named on stderr and dropped; the fetch completes from the honest one', async () => {
  const liarDir = await dataDir(root, 'liar');
  const big = randomBytes(6_000_000);
  const hex = formatDigest(await putBlob(liarDir, big));
  await putBlob(await dataDir(root, 'honest'), big);
  const hostile = await startHostile(path.join(root, 'liar'), ['flip']);
  const liar = hostile.node('flip');
  const honest = await startServer(path.join(root, 'honest'));
  try {
    const data = path.join(root, 'client-liar');
    const out = path.join(root, 'liar-out');
    const r = castor('fetch', hex, out, '--peer', liar.address, '--peer', honest.address, '--data-dir', data);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`castor: fetch: peer ${liar.peerId} sent bad data for ${hex}: .*; dropped that peer`));
    assert.doesNotMatch(r.stderr, new RegExp(honest.peerId));
    assert.ok((await readFile(out)).equals(big));
  } finally {
    await hostile.stop();
    await honest.stop();
  }
});
