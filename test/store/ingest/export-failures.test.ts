// Export when several blobs fail to read (damaged packs): every write in flight settles
// before the export reports, no file starts after the first failure, nothing is left in
// OUTPUT, and no second failure goes unhandled (issue 20, defect 5).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryBlobService } from '../../../src/store/blobs/memory-blob-service.js';
import { MemoryDirectoryService } from '../../../src/store/directories/memory-directory-service.js';
import { ingestPath } from '../../../src/store/ingest/ingest.js';
import { exportNode } from '../../../src/store/ingest/export.js';
import { CorruptChunkError, type BlobService } from '../../../src/store/blob-service.js';
import { formatDigest, type Digest } from '../../../src/store/digest.js';

let tmp: string;
before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-export-fail-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

const exists = async (p: string): Promise<boolean> => access(p).then(() => true, () => false);

describe('export with damaged blobs', () => {
  it('two failing reads: both settle before the export rejects with the first, no file starts after it, OUTPUT is gone', async () => {
    // OUT/a is slow and fails second; OUT/z/x fails first while OUT/z/y00.. wait for a slot.
    const src = path.join(tmp, 'src');
    await mkdir(path.join(src, 'z'), { recursive: true });
    await writeFile(path.join(src, 'a'), randomBytes(40_000));
    await writeFile(path.join(src, 'z', 'x'), randomBytes(40_001));
    for (let i = 0; i < 30; i++) await writeFile(path.join(src, 'z', `y${String(i).padStart(2, '0')}`), randomBytes(20_000 + i));
    const mem = new MemoryBlobService();
    const store = { blobs: mem, directories: new MemoryDirectoryService() };
    const root = await ingestPath(src, store);
    const digestOf = async (rel: string): Promise<string> => {
      const r = await ingestPath(path.join(src, rel), { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });
      return formatDigest(r.digest);
    };
    const a = await digestOf('a');
    const x = await digestOf('z/x');

    let releaseA!: () => void;
    const gateA = new Promise<void>((resolve) => { releaseA = resolve; });
    let running = 0;
    let failedAt: number | undefined;
    let started = 0;
    let startedAfterFailure = 0;
    const damaged = (digest: Digest, at: number): AsyncIterable<Uint8Array> => (async function* () {
      if (formatDigest(digest) === a) await gateA;
      throw new CorruptChunkError(digest, digest, at, 'test: flipped byte');
    })();
    const blobs: BlobService = {
      has: (d) => mem.has(d),
      stat: (d) => mem.stat(d),
      openWriter: () => mem.openWriter(),
      read: async (digest, range) => {
        started++;
        if (failedAt !== undefined) startedAfterFailure++;
        const hex = formatDigest(digest);
        const inner = hex === a || hex === x ? damaged(digest, 0) : await mem.read(digest, range);
        if (inner === undefined) return undefined;
        return (async function* () {
          running++;
          try {
            yield* inner;
          } finally {
            running--;
            if (hex === x) {
              failedAt = started;
              // a fails later, on its own: a fix must wait for it, an unfixed export does not.
              setTimeout(releaseA, 100);
            }
          }
        })();
      },
    };

    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => { unhandled.push(err); };
    process.on('unhandledRejection', onUnhandled);
    try {
      const out = path.join(tmp, 'out');
      let runningAtReject = -1;
      await assert.rejects(
        exportNode(root.node, out, { blobs, directories: store.directories, concurrency: 2 }).catch((err: unknown) => { runningAtReject = running; throw err; }),
        (err: unknown) => err instanceof CorruptChunkError && formatDigest(err.blob) === x,
      );
      assert.equal(runningAtReject, 0, 'no read still running when the export reports');
      assert.equal(startedAfterFailure, 0, 'no file started after the first failure');
      assert.equal(await exists(out), false, 'OUTPUT removed');
      releaseA();
      // Whatever an unfixed export left running has its turn now.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(await exists(out), false, 'nothing recreated OUTPUT afterwards');
      assert.deepEqual(unhandled, [], 'no failure went unhandled');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
