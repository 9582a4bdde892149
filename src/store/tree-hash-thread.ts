// A worker thread that hashes the trees of large blobs for FsBlobWriter (RemoteHasher), so
// adding a large file spreads over three threads: the caller's (reading, FastCDC, chunk
// digests), this one (the blob's tree and outboard) and the chunk-staging worker (creating
// and writing chunk files). With the tree hash on the caller's thread, a 1 GiB add had
// that thread at 2.9 s of CPU against the staging worker's 1.3 s (perf, quiet machine);
// on the staging worker instead, that worker became the bottleneck whenever creating files
// was slow (5.6 s of CPU against 3.3 s, after mass deletes). One thread per process, made on
// first use, holding the process open only while it has work.

import type { Worker } from 'node:worker_threads';
import { HashClient, type TreeHashReply } from '../verify/blake3/index.js';
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
