// MemoryBlobService against the shared BlobService contract suite.

import { MemoryBlobService } from '../../../src/store/blobs/memory-blob-service.js';
import { blobServiceSuite } from '../blob-service-suite.js';

blobServiceSuite('MemoryBlobService', async () => ({ service: new MemoryBlobService() }));
