// FsDirectoryService runs the DirectoryService contract suite on a real data dir.

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { type Digest } from '../../../src/store/digest.js';
import { directoryServiceSuite } from '../directory-service-suite.js';

directoryServiceSuite('FsDirectoryService', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'castor-fs-dirs-'));
  const { directories, layout } = await openDataDir(dir, { durable: false });
  return {
    service: directories,
    // Past every check, as a bit flip on disk would be.
    writeRaw: async (digest: Digest, bytes: Uint8Array) => {
      const file = layout.dirPath(digest);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
});
