// NAR to castore in one streaming pass: files become blobs through the BlobService
// (so FastCDC dedup applies), directories become Directories put leaves first, and the
// NAR's sha256 and size are computed from the same bytes the parser reads.

import { createHash } from 'node:crypto';
import type { BlobService, BlobWriter, Digest } from '../blob-service.js';
import { directoryFrom, directorySize, type Node } from '../castore/index.js';
import type { DirectoryService } from '../directory-service.js';
import { readNar } from './nar-reader.js';

export interface NarIngestOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
}

export interface NarIngestResult {
  /** The root: a DirectoryNode, FileNode or SymlinkNode with an empty name. */
  readonly node: Node;
  /** sha256 of the whole NAR, 32 bytes (Nix's narHash). */
  readonly narHash: Uint8Array;
  /** The NAR's length in bytes (Nix's narSize). */
  readonly narSize: number;
}

/**
 * Files up to this size are gathered and stored with the store's one-step put where it
 * has one (as ingest.ts does from disk): cheaper than a writer per file, and a NAR of a
 * store path is mostly such files.
 */
const SMALL_FILE = 1 << 20;

/**
 * Bytes handed to a blob writer whose writes have not resolved yet. A writer may take a
 * write before the previous one settled, so the parser reads on while the store (or its
 * hashing thread) works on what came before; past this, the parser waits.
 */
const WRITE_AHEAD = 8 << 20;

/** An open directory: its name in the parent (empty for the root) and its entries so far. */
interface Level {
  readonly name: Uint8Array;
  readonly nodes: Node[];
}

const EMPTY_NAME: Uint8Array = new Uint8Array(0);

/**
 * Stores the NAR `nar` as a castore tree and resolves to its root node, narHash and
 * narSize. Input is pulled only as fast as the store takes it. A NAR the parser refuses
 * (NarFormatError), or a store failure, rejects and no root is reported: blobs and
 * Directories stored before the bad byte stay in the store unreferenced, and gc reclaims
 * them like any other unreferenced data once its grace period has passed.
 */
export async function ingestNar(nar: AsyncIterable<Uint8Array>, options: NarIngestOptions): Promise<NarIngestResult> {
  const { blobs, directories } = options;
  const hash = createHash('sha256');
  let narSize = 0;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of nar) {
      hash.update(chunk);
      narSize += chunk.length;
      yield chunk;
    }
  }

  const open: Level[] = [];
  let pendingName: Uint8Array = EMPTY_NAME;
  let root: Node | undefined;
  const place = (node: Node): void => {
    if (open.length === 0) root = node;
    else open[open.length - 1]!.nodes.push(node);
  };
  // The file being read: its node's fields, and where its content goes.
  let file: { name: Uint8Array; executable: boolean; size: number; left: number } | undefined;
  let writer: BlobWriter | undefined;
  let small: Uint8Array | undefined;
  // Writes issued and not yet awaited, oldest first; each already marked handled, so one
  // that fails while the parser is elsewhere is still reported here, by the await.
  const writes: { done: Promise<void>; bytes: number }[] = [];
  let writing = 0;
  const settleWrites = async (limit: number): Promise<void> => {
    while (writes.length > 0 && writing > limit) {
      const w = writes.shift()!;
      writing -= w.bytes;
      await w.done;
    }
  };

  const finishFile = async (): Promise<void> => {
    const f = file!;
    file = undefined;
    let digest: Digest;
    if (writer !== undefined) {
      await settleWrites(-1);
      digest = await writer.close();
      writer = undefined;
    } else {
      digest = (await blobs.putBytes!(small!)).digest;
      small = undefined;
    }
    place({ file: { name: f.name, digest, size: BigInt(f.size), executable: f.executable } });
  };

  try {
    for await (const ev of readNar(hashed())) {
      switch (ev.kind) {
        case 'entry':
          pendingName = ev.name;
          break;
        case 'directory':
          open.push({ name: pendingName, nodes: [] });
          break;
        case 'end': {
          const level = open.pop()!;
          // Entries came in NAR order, which the parser checked is castore's name order.
          const dir = directoryFrom(level.nodes);
          const digest = await directories.put(dir);
          place({ directory: { name: level.name, digest, size: directorySize(dir) } });
          break;
        }
        case 'symlink':
          place({ symlink: { name: pendingName, target: ev.target } });
          break;
        case 'file':
          file = { name: pendingName, executable: ev.executable, size: ev.size, left: ev.size };
          if (ev.size <= SMALL_FILE && blobs.putBytes !== undefined) {
            small = new Uint8Array(ev.size);
          } else {
            writer = blobs.openWriter({ sizeHint: ev.size });
          }
          if (ev.size === 0) await finishFile();
          break;
        case 'data': {
          const f = file!;
          if (writer !== undefined) {
            const done = writer.write(ev.bytes);
            done.catch(() => undefined);
            writes.push({ done, bytes: ev.bytes.length });
            writing += ev.bytes.length;
            // The store's pace is the input's, WRITE_AHEAD bytes behind at most.
            await settleWrites(WRITE_AHEAD);
          } else {
            small!.set(ev.bytes, f.size - f.left);
          }
          f.left -= ev.bytes.length;
          if (f.left === 0) await finishFile();
          break;
        }
      }
    }
  } catch (err: unknown) {
    try {
      await writer?.abort();
    } catch {
      // The failure that stopped the ingest is the one to report; an abort that fails
      // leaves at most an unpublished temp file, which fsck's tmp/ sweep removes.
    }
    throw err;
  }
  // The parser returns only after the root and the end of input, so root is set.
  return { node: root!, narHash: new Uint8Array(hash.digest()), narSize };
}
