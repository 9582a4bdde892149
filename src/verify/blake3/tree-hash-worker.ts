// The thread side of RemoteHasher (remote-hasher.ts): one Hasher per stream id, fed the
// stream's bytes in order in buffers that go back to the sender once hashed. A worker
// thread that hashes imports this and hands it the messages isTreeHashMessage accepts
// (the store's tree-hashing thread does: src/store/disk/tree-hash-thread.ts). Hashing a blob's
// tree there lets the thread that produces the bytes run on the other core. An update may
// also name `pieces`, lengths that tile its bytes: each piece is hashed on its own too (a
// store's chunks), and the digests go back with the buffer.

import { Hasher } from './hasher.js';
import { defaultKernel } from './kernel-instance.js';
import { HASH_MODE } from './mode.js';
import { subtreeOutput } from './subtree.js';

export type TreeHashMessage =
  | { readonly op: 'update'; readonly id: number; readonly groupLog: number | undefined; readonly buffer: ArrayBuffer; readonly length: number; readonly pieces?: readonly number[] }
  | { readonly op: 'finish'; readonly id: number; readonly groupLog: number | undefined }
  | { readonly op: 'drop'; readonly id: number };

export type TreeHashReply =
  | { readonly op: 'buffer'; readonly buffer: ArrayBuffer; readonly id?: number; readonly length?: number; readonly pieces?: readonly number[]; readonly digests?: Uint8Array }
  | { readonly op: 'result'; readonly id: number; readonly hash: Uint8Array; readonly length: number; readonly nodes?: Uint8Array }
  | { readonly op: 'error'; readonly id: number; readonly message: string };

/** Where replies go: the worker thread's parentPort. */
export interface ReplyPort {
  postMessage(reply: TreeHashReply, transfer?: ArrayBuffer[]): void;
}

const hashers = new Map<number, Hasher>();

function hasherOf(id: number, groupLog: number | undefined): Hasher {
  let h = hashers.get(id);
  if (!h) hashers.set(id, (h = new Hasher({ groupLog })));
  return h;
}

/** Whether `msg` is one of these (a worker thread may serve other messages too). */
export function isTreeHashMessage(msg: unknown): msg is TreeHashMessage {
  const op = (msg as { op?: unknown }).op;
  return op === 'update' || op === 'finish' || op === 'drop';
}

/** Handles one message in the thread that hashes. */
export function handleTreeHash(msg: TreeHashMessage, port: ReplyPort): void {
  if (msg.op === 'drop') {
    hashers.delete(msg.id);
    return;
  }
  try {
    if (msg.op === 'update') {
      const bytes = new Uint8Array(msg.buffer, 0, msg.length);
      hasherOf(msg.id, msg.groupLog).update(bytes);
      if (msg.pieces === undefined) {
        port.postMessage({ op: 'buffer', buffer: msg.buffer }, [msg.buffer]);
        return;
      }
      const digests = hashPieces(bytes, msg.pieces);
      port.postMessage({ op: 'buffer', buffer: msg.buffer, id: msg.id, length: msg.length, pieces: msg.pieces, digests }, [msg.buffer, digests.buffer as ArrayBuffer]);
      return;
    }
    const r = hasherOf(msg.id, msg.groupLog).finalize();
    hashers.delete(msg.id);
    port.postMessage({ op: 'result', id: msg.id, hash: r.hash, length: r.length, nodes: r.nodes });
  } catch (err: unknown) {
    hashers.delete(msg.id);
    port.postMessage({ op: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
}

/** The BLAKE3 digest of each piece of `bytes` (lengths `pieces`, in order), 32 bytes each. */
function hashPieces(bytes: Uint8Array, pieces: readonly number[]): Uint8Array {
  const out = new Uint8Array(32 * pieces.length);
  let at = 0;
  pieces.forEach((n, i) => {
    out.set(subtreeOutput(defaultKernel(), bytes.subarray(at, at + n), 0, HASH_MODE).rootBytes(32), 32 * i);
    at += n;
  });
  return out;
}

/** Whether `reply` came from handleTreeHash. */
export function isTreeHashReply(reply: unknown): reply is TreeHashReply {
  const op = (reply as { op?: unknown }).op;
  return op === 'buffer' || op === 'result' || op === 'error';
}
