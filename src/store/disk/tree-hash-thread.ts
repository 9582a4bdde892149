// A worker thread that hashes the trees of large blobs for FsBlobWriter (RemoteHasher), and
// their chunks' digests, so adding a large file spreads over two threads: the caller's
// (reading, FastCDC, appending chunks to its pack) and this one (the blob's tree and
// outboard, a digest per chunk). With the chunk digests on the caller's thread, a 1 GiB
// add had that thread at 3.0 s of CPU against this one's 0.9 s (perf, quiet machine).
// One thread per process, made on first use, holding the process open only while it has work.

import type { Worker } from 'node:worker_threads';
import { HashClient, type TreeHashReply } from '../../verify/index.js';
import { startStoreWorker } from './store-worker.js';

const WORKER_URL = new URL('./tree-hash-thread-worker.js', import.meta.url);

let client: HashClient | undefined;
let worker: Worker | undefined;
let busy = false;

function start(): Worker {
  if (worker) return worker;
  const w = startStoreWorker<TreeHashReply>(WORKER_URL, 'tree hashing worker', (reply) => client!.onReply(reply), (err) => {
    worker = undefined;
    client!.onLost(err);
  });
  worker = w;
  if (!busy) w.unref();
  return w;
}

/** The process's tree-hashing thread, as the client RemoteHashers are made with. */
export function treeHashes(): HashClient {
  return (client ??= new HashClient({
    post: (msg, transfer) => start().postMessage(msg, transfer),
    busy: (b) => {
      busy = b;
      if (b) worker?.ref();
      else worker?.unref();
    },
  }));
}
