// The worker thread of put-file-pool.ts: a batch of small files in, one outcome each out,
// in order, each file read and stored with the same putFileSync the main thread uses.

import { parentPort } from 'node:worker_threads';
import { FsLayout } from '../fs/index.js';
import { putFileSync, type PutFileConfig, type PutFileOutcome } from './put-file.js';

export interface PutFilesRequest {
  readonly id: number;
  readonly cfg: PutFileConfig;
  readonly files: readonly Uint8Array[];
  /** The worker's own dir in tmp/ for temp files. */
  readonly staging: string;
}

export interface PutFilesReply {
  readonly id: number;
  readonly outcomes: PutFileOutcome[];
}

const port = parentPort;
if (port) {
  let layout: FsLayout | undefined;
  port.on('message', (msg: PutFilesRequest) => {
    if (layout?.root !== msg.cfg.root) layout = new FsLayout(msg.cfg.root);
    const outcomes = msg.files.map((f) => putFileSync(layout!, msg.cfg, f, msg.staging));
    port.postMessage({ id: msg.id, outcomes } satisfies PutFilesReply);
  });
}
