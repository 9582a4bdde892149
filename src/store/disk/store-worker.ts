// Starting one of the store's worker threads (chunk staging, small-file puts, tree hashing):
// each is made on first use with a small young generation (the threads allocate little but
// messages, and each MiB of semi-space is RSS: the fetch client runs close to its 200 MiB
// budget), and its end, however it comes (an error, a message that cannot be read, an
// exit), is reported once, after which the caller starts a new one when it next needs it.

import { Worker } from 'node:worker_threads';

export function startStoreWorker<R>(url: URL, what: string, onMessage: (reply: R) => void, onLost: (err: Error) => void): Worker {
  const w = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
  w.on('message', onMessage);
  let lost = false;
  const lose = (err: Error): void => {
    if (lost) return;
    lost = true;
    void w.terminate();
    onLost(err);
  };
  w.on('error', lose);
  w.on('messageerror', lose);
  w.on('exit', (code) => lose(new Error(`${what} exited with code ${code}`)));
  return w;
}
