// MemoryDirectoryService runs the DirectoryService contract suite.

import { MemoryDirectoryService } from '../../../src/store/directories/memory-directory-service.js';
import { type Digest } from '../../../src/store/digest.js';
import { directoryServiceSuite } from '../directory-service-suite.js';

/** Reaches the protected `_write` to store bytes past every check, as corruption would. */
class TamperableMemoryDirectoryService extends MemoryDirectoryService {
  writeRaw(digest: Digest, bytes: Uint8Array): Promise<void> {
    return this._write(digest, bytes);
  }
}

directoryServiceSuite('MemoryDirectoryService', async () => {
  const service = new TamperableMemoryDirectoryService();
  return { service, writeRaw: (digest, bytes) => service.writeRaw(digest, bytes) };
});
