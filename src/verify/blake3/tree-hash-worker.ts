// Worker thread behind RemoteHasher (remote-hasher.ts): one Hasher per stream id, fed the
// stream's bytes in order in buffers that go back to the sender once hashed. Hashing a
// blob's tree here lets the thread that produces the bytes (chunking, chunk digests, file
// staging) run on the other core.

import { parentPort } from 'node:worker_threads';
import { Hasher } from './hasher.js';

export type TreeHashMessage =
  | { readonly op: 'update'; readonly id: number; readonly groupLog: number | undefined; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly op: 'finish'; readonly id: number; readonly groupLog: number | undefined }
  | { readonly op: 'drop'; readonly id: number };

export type TreeHashReply =
  | { readonly op: 'buffer'; readonly buffer: ArrayBuffer }
  | { readonly op: 'result'; readonly id: number; readonly hash: Uint8Array; readonly length: number; readonly nodes?: Uint8Array }
  | { readonly op: 'error'; readonly id: number; readonly message: string };

const port = parentPort;
if (port) {
  const hashers = new Map<number, Hasher>();
  const hasherOf = (id: number, groupLog: number | undefined): Hasher => {
    let h = hashers.get(id);
    if (!h) hashers.set(id, (h = new Hasher({ groupLog })));
    return h;
  };
  port.on('message', (msg: TreeHashMessage) => {
    if (msg.op === 'drop') {
      hashers.delete(msg.id);
      return;
    }
    try {
      if (msg.op === 'update') {
        hasherOf(msg.id, msg.groupLog).update(new Uint8Array(msg.buffer, 0, msg.length));
        port.postMessage({ op: 'buffer', buffer: msg.buffer } satisfies TreeHashReply, [msg.buffer]);
        return;
      }
      const r = hasherOf(msg.id, msg.groupLog).finalize();
      hashers.delete(msg.id);
      port.postMessage({ op: 'result', id: msg.id, hash: r.hash, length: r.length, nodes: r.nodes } satisfies TreeHashReply);
    } catch (err: unknown) {
      hashers.delete(msg.id);
      port.postMessage({ op: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) } satisfies TreeHashReply);
    }
  });
}
