// A fetch killed with SIGKILL mid-way (the CLI, a process of its own, against a server in
// another) and run again fetches exactly the groups its partial had not made durable:
// the bytes it reports moving are the size minus the groups the partial held.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';
import { openDataDir } from '../../src/store/disk/data-dir.js';
import { formatDigest, type Digest } from '../../src/store/digest.js';
import { dataDir, putBlob, randomBytes, readBlob, removeDir, startServer, tempDir, type ServerProcess } from './node-fixture.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const GROUP = 16384;
let root: string;
let server: ServerProcess;
let bytes: Uint8Array;
let digest: Digest;

before(async () => {
  root = await tempDir('node-resume');
  const served = await dataDir(root, 'server');
  bytes = randomBytes(64 << 20);
  digest = await putBlob(served, bytes);
  server = await startServer(path.join(root, 'server'));
});

after(async () => {
  await server?.stop();
  await removeDir(root);
});

test('a fetch killed mid-way resumes with only the missing groups', async () => {
  const clientDir = path.join(root, 'client');
  const hex = formatDigest(digest);
  const child = spawn(process.execPath, [CLI, 'fetch', hex, '--peer', server.address, '--data-dir', clientDir], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let killed = false;
  // Kill it once its partial has made some groups durable, long before the end.
  for (let i = 0; i < 3000 && child.exitCode === null; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    let held = 0;
    try {
      const partial = await PartialBlob.peek(await openDataDir(clientDir), digest);
      if (partial === undefined) continue;
      held = partial.persistedCount;
      await partial.close();
    } catch {
      continue; // the data dir or the partial is being created
    }
    if (held > 0) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
  }
  await exited;
  assert.ok(killed, 'the fetch was killed mid-way (it did not finish first)');
  const data = await openDataDir(clientDir);
  assert.equal(await data.blobs.has(digest), false);
  const partial = await PartialBlob.peek(data, digest);
  assert.ok(partial !== undefined);
  const held = partial.heldCount;
  const heldBytes = Array.from({ length: partial.groupCount }, (_, g) => g).filter((g) => partial.has(g))
    .reduce((n, g) => n + Math.min(GROUP, bytes.length - g * GROUP), 0);
  await partial.close();
  assert.ok(held > 0 && heldBytes < bytes.length, `held ${held} groups`);

  const again = spawnSync(process.execPath, [CLI, 'fetch', hex, '--peer', server.address, '--data-dir', clientDir, '--json'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const r = JSON.parse(again.stdout) as { bytes: number; fetched_bytes: number };
  assert.equal(r.bytes, bytes.length);
  assert.equal(r.fetched_bytes, bytes.length - heldBytes, 'only the missing groups travelled');
  assert.ok(Buffer.from(await readBlob(data, digest)).equals(bytes));
  assert.deepEqual(await PartialBlob.list(data), [], 'the partial is gone once complete');
});
