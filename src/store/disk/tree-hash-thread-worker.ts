// The thread tree-hash-thread.ts starts: it hashes the blob trees RemoteHashers send it.

import { parentPort } from 'node:worker_threads';
import { handleTreeHash, isTreeHashMessage, type TreeHashMessage } from '../../verify/index.js';

const port = parentPort;
if (port) {
  port.on('message', (msg: TreeHashMessage) => {
    if (isTreeHashMessage(msg)) handleTreeHash(msg, port);
  });
}
