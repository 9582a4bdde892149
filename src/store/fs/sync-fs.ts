// One durability barrier for a batch of writes: syncfs(2) on the data dir's file system,
// through coreutils' `sync -f` (node exposes no syncfs). A batch written without per-file
// fsync and then synced once costs one flush instead of four fsyncs a file; until the
// barrier returns, a power cut (not a crash: renames already order what a killed process
// leaves) may lose files of the batch, which every read detects and fsck quarantines.

import { execFile } from 'node:child_process';
import { StoreIoError } from './fs-errors.js';

export function syncFileSystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', dir], (err) => (err ? reject(new StoreIoError(dir, 'syncing (sync -f)', { cause: err })) : resolve()));
  });
}
