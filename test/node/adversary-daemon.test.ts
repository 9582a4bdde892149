// Hostile peers against a fetching daemon (issue 20): `castor fetch` run on a data dir
// where `castor daemon` runs hands the fetch to the daemon, which dials the peers. Each
// mode has a blob (or tree) of its own, so the cases share one daemon and run at once:
// alone, the fetch fails naming the liar, OUTPUT is not written and the target is not
// stored; then beside an honest peer it succeeds identical, the honest peer unblamed. The
// daemon's log names every liar it dropped; once it stops, fsck finds its store
// consistent and every partial holds the true size and only groups that verify.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { openDataDir } from '../../src/store/disk/data-dir.js';
import { ingestPath } from '../../src/store/ingest/ingest.js';
import { fsck } from '../../src/store/maintenance/index.js';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';
import { assertSameTree } from '../store/tree-fixture.js';
import type { HostileMode } from '../support/hostile-peer.js';
import { startHostile, type HostileProcess } from '../support/hostile-process.js';
import { CASTOR_CLI, startLocalDaemon, type LocalDaemon } from '../support/local-daemon.js';
import { dataDir, putBlob, randomBytes, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

const FETCH_BOUND_MS = 90_000;
const GROUP = 16384;
const SIZE = 70 * GROUP + 5000;
const BLOB_MODES: readonly HostileMode[] = ['flip', 'truncate', 'size-smaller', 'wrong-blob', 'garbage'];
const TREE_MODES: readonly HostileMode[] = ['dir-hash', 'dir-missing'];

let root: string;
let honest: ServerProcess;
let hostile: HostileProcess;
let daemon: LocalDaemon;
let clientDir: string;
const targets = new Map<HostileMode, { digest: Digest; file: string; tree: boolean }>();
const sizes = new Map<string, number>();

function castor(args: readonly string[]): Promise<{ status: number | null; stderr: string; timedOut: boolean }> {
  const child = spawn(process.execPath, [CASTOR_CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let timedOut = false;
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, FETCH_BOUND_MS);
  return new Promise((resolve) => child.once('close', (status) => {
    clearTimeout(timer);
    resolve({ status, stderr, timedOut });
  }));
}

before(async () => {
  root = await tempDir('adversary-daemon');
  const src = await dataDir(root, 'src');
  await mkdir(path.join(root, 'files'));
  for (const mode of [...BLOB_MODES, 'decoy' as const]) {
    const bytes = randomBytes(SIZE);
    const file = path.join(root, 'files', mode);
    await writeFile(file, bytes);
    const digest = await putBlob(src, bytes);
    sizes.set(formatDigest(digest), SIZE);
    if (mode !== 'decoy') targets.set(mode, { digest, file, tree: false });
  }
  for (const mode of TREE_MODES) {
    const tree = path.join(root, 'files', mode);
    await mkdir(path.join(tree, 'sub'), { recursive: true });
    await writeFile(path.join(tree, 'sub', 'a'), randomBytes(2 * GROUP + 7));
    await writeFile(path.join(tree, 'b'), mode);
    targets.set(mode, { digest: (await ingestPath(tree, src)).digest, file: tree, tree: true });
  }
  const decoy = [...sizes.keys()].find((hex) => ![...targets.values()].some((t) => formatDigest(t.digest) === hex))!;
  await cp(path.join(root, 'src'), path.join(root, 'honest'), { recursive: true });
  clientDir = path.join(root, 'client');
  [honest, hostile, daemon] = await Promise.all([
    startServer(path.join(root, 'honest')),
    startHostile(path.join(root, 'src'), [...BLOB_MODES, ...TREE_MODES], { decoy }),
    startLocalDaemon(clientDir),
  ]);
});

after(async () => {
  await Promise.all([honest?.stop(), hostile?.stop(), daemon?.stop()]);
  await removeDir(root);
});

describe('hostile peers against a fetching daemon', { concurrency: true }, () => {
  for (const mode of [...BLOB_MODES, ...TREE_MODES]) {
    test(`${mode}: alone the daemon's fetch fails naming the liar; beside an honest peer it succeeds`, async () => {
      const target = targets.get(mode)!;
      const liar = hostile.node(mode);
      const hex = formatDigest(target.digest);
      const aloneOut = path.join(root, `${mode}-alone.out`);
      const alone = await castor(['fetch', hex, aloneOut, '--peer', liar.address, '--data-dir', clientDir]);
      assert.ok(!alone.timedOut, `alone: did not end within ${FETCH_BOUND_MS} ms`);
      assert.equal(alone.status, 1, `alone: ${alone.stderr}`);
      assert.ok(alone.stderr.includes(liar.peerId), `alone names the liar: ${alone.stderr}`);
      assert.equal(existsSync(aloneOut), false, 'OUTPUT not written');
      const data = await openDataDir(clientDir, { durable: false });
      if (target.tree) assert.equal(await data.directories.get(target.digest), undefined, 'the tree is not stored');
      else assert.equal(await data.blobs.has(target.digest), false, 'the blob is not stored');

      const out = path.join(root, `${mode}-beside.out`);
      const beside = await castor(['fetch', hex, out, '--peer', liar.address, '--peer', honest.address, '--data-dir', clientDir]);
      assert.ok(!beside.timedOut, `beside: did not end within ${FETCH_BOUND_MS} ms`);
      assert.equal(beside.status, 0, `beside: ${beside.stderr}`);
      assert.ok(!beside.stderr.includes(honest.peerId), `the honest peer is not blamed: ${beside.stderr}`);
      if (target.tree) await assertSameTree(out, target.file);
      else assert.ok((await readFile(out)).equals(await readFile(target.file)), 'identical');
    });
  }
});

/** Whether the daemon's log names the liar of `mode` as dropped or lying. */
function blamed(mode: HostileMode): boolean {
  return new RegExp(`(dropped|lying peer|bad data).*${hostile.node(mode).peerId}`).test(daemon.stderr());
}

for (const mode of [...BLOB_MODES, ...TREE_MODES]) {
  const todo = mode === 'dir-missing' ? 'finding: a tree answer that leaves out children fails the fetch but is not logged as a dropped peer' : undefined;
  test(`${mode}: the daemon's log names the liar`, { todo }, () => {
    assert.ok(blamed(mode), daemon.stderr().split('\n').filter((l) => l.includes(hostile.node(mode).peerId)).join('\n'));
  });
}

test('the daemon logged no blame on the honest peer; its store is consistent once it stops', async () => {
  assert.doesNotMatch(daemon.stderr(), new RegExp(`(dropped|bad data).*${honest.peerId}`));
  await daemon.stop();
  const data = await openDataDir(clientDir, { durable: false });
  assert.ok((await fsck(data, { dryRun: true })).consistent, 'fsck is clean');
  for (const digest of await PartialBlob.list(data)) {
    const partial = await PartialBlob.peek(data, digest);
    if (partial === undefined) continue;
    try {
      assert.equal(partial.size, sizes.get(formatDigest(digest)), 'a partial keeps the true size');
      for (let g = 0; g < partial.groupCount; g++) {
        if (partial.has(g)) for await (const piece of partial.read({ start: g * GROUP, end: (g + 1) * GROUP })) void piece;
      }
    } finally {
      await partial.close();
    }
  }
});
