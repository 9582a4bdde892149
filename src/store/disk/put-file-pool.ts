// Small files stored on two threads at once. Adding a tree of small files is bound by
// per-file system calls (open, read, create, rename: most of it ext4 allocating inodes), not
// bytes, and one thread leaves the machine's other core idle. Files put are queued; the
// worker thread is fed from the queue in small batches, always one batch ahead, so it never
// waits on this thread, and this thread stores what the worker has not taken, a few files
// per turn of the event loop, so the worker's replies (and its next batch) are taken in
// between. The share each thread gets follows from how fast each goes: this thread also
// walks the tree and puts Directories, and a fixed half for the worker left it idle 47% of
// an add of 20,000 files (cpu profile) while this thread was the bottleneck. Both threads
// use the same putFileSync, so the store sees the same files and renames whichever thread
// wrote them. Each thread writes its temp files in a dir of its own in tmp/, so the two do
// not queue on one directory's lock in the kernel to create them (about a tenth of the wall
// time on tmpfs); the dirs are removed when the process exits, or by cleanTemp after a
// crash. The worker holds the process open only while it has work.

import { existsSync, rmdirSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import type { PutFileResult } from '../blob-service.js';
import { asDigest } from '../digest.js';
import { errnoError } from '../util/index.js';
import { fsError } from '../fs/index.js';
import { FsLayout } from '../fs/index.js';
import { ENTRY_HEAD, PACK_MAGIC, type PackEntry } from './packs/index.js';
import { indexPathOf, packIndex } from './packs/index.js';
import { writePackIndex } from './packs/index.js';
import { toHex } from '../../verify/index.js';
import { putFileSync, type PutFileConfig, type PutFileOutcome } from './put-file.js';
import { startStoreWorker } from './store-worker.js';
import type { PutFilesReply, PutFilesRequest } from './put-file-worker.js';

const WORKER_URL = new URL('./put-file-worker.js', import.meta.url);
/** Files in one message to the worker: a message each way costs about as much as a file or two. */
const WORKER_BATCH = 16;
/** Batches the worker holds at once: one under way, one waiting, so it never waits on this thread. */
const WORKER_DEPTH = 2;
/** Files this thread stores per turn of the event loop before it looks at the worker's replies again. */
const MAIN_SLICE = 8;

interface Waiting {
  readonly file: Uint8Array;
  readonly resolve: (r: PutFileResult) => void;
  readonly reject: (err: Error) => void;
}

export class FilePutter {
  readonly #cfg: PutFileConfig;
  readonly #layout: FsLayout;
  #queue: Waiting[] = [];
  #scheduled = false;
  /** Temp-file dirs in tmp/, one per thread, made by the first put that needs one. */
  readonly #staging: { main: string; worker: string };

  constructor(cfg: PutFileConfig) {
    this.#cfg = cfg;
    this.#layout = new FsLayout(cfg.root);
    this.#staging = { main: this.#layout.newTempPath('f-'), worker: this.#layout.newTempPath('f-') };
    removeAtExit(this.#staging.main);
    removeAtExit(this.#staging.worker);
  }

  /** Reads `file` whole and stores it as one blob: see BlobService.putFile. */
  put(file: Uint8Array): Promise<PutFileResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ file, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => this.#turn());
  }

  /** The worker topped up first, then a slice stored here. */
  #turn(): void {
    this.#scheduled = false;
    // A lone file is not worth a message each way (nor starting the worker).
    if (this.#queue.length >= 2) this.#feed();
    for (const w of this.#queue.splice(0, MAIN_SLICE)) settle(w, putFileSync(this.#layout, this.#cfg, w.file, this.#staging.main));
    this.#schedule();
  }

  /** Batches to the worker from the queue while it has room; called again as it replies. */
  #feed(): void {
    while (this.#queue.length > 0 && putWorker.room() > 0) {
      putWorker.send(this.#cfg, this.#layout, this.#queue.splice(0, WORKER_BATCH), this.#staging.worker, () => this.#feed());
    }
  }
}

/** The one worker thread of the process, shared by every store's FilePutter (requests carry their store). */
class PutWorker {
  #worker: Worker | undefined;
  readonly #sent = new Map<number, { batch: Waiting[]; layout: FsLayout; then: () => void }>();
  #nextId = 1;

  /** Batches it can take now. */
  room(): number {
    return WORKER_DEPTH - this.#sent.size;
  }

  /** `then` runs once the batch is settled, to send the next. */
  send(cfg: PutFileConfig, layout: FsLayout, batch: Waiting[], staging: string, then: () => void): void {
    const id = this.#nextId++;
    this.#sent.set(id, { batch, layout, then });
    const worker = this.#start();
    worker.ref();
    worker.postMessage({ id, cfg, files: batch.map((w) => w.file), staging } satisfies PutFilesRequest);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    // A worker that dies takes its batches with it: they fail, and the next round starts a new one.
    const w = startStoreWorker<PutFilesReply>(WORKER_URL, 'file-put worker', (reply) => {
      const sent = this.#sent.get(reply.id);
      this.#sent.delete(reply.id);
      if (this.#sent.size === 0) w.unref();
      sent?.batch.forEach((waiting, i) => {
        const outcome = reply.outcomes[i]!;
        if ('appended' in outcome && outcome.appended) for (const a of outcome.appended) workerPacked(sent.layout, a.digest, a.entry);
        settle(waiting, outcome);
      });
      sent?.then();
    }, (err) => {
      this.#worker = undefined;
      for (const { batch } of this.#sent.values()) for (const waiting of batch) waiting.reject(err);
      this.#sent.clear();
    });
    this.#worker = w;
    return w;
  }
}

const putWorker = new PutWorker();

/**
 * The entries the worker appended to each of its packs, in order, as its replies said. The
 * worker's packs are not sealed when the process exits (its thread is stopped, not ended),
 * so this thread writes their indexes then; a reader would otherwise scan each pack whole
 * (85 MB after adding 20,000 small files), and gc could not rewrite them until the process
 * is gone. Only entries that continue the pack are taken (a dedup hit names an older one),
 * so an index covers exactly a prefix the worker wrote; anything after it is scanned.
 */
const workerPacks = new Map<string, { layout: FsLayout; entries: { digest: Uint8Array; offset: number; size: number }[]; end: number }>();

function workerPacked(layout: FsLayout, digest: Uint8Array, entry: PackEntry): void {
  // What the worker packed, this thread's index learns here rather than by reading the worker's pack.
  packIndex(layout).add(toHex(digest), entry);
  let pack = workerPacks.get(entry.pack);
  if (pack === undefined) {
    if (entry.offset !== PACK_MAGIC.length + ENTRY_HEAD) return;
    if (workerPacks.size === 0) process.once('exit', indexWorkerPacks);
    pack = { layout, entries: [], end: PACK_MAGIC.length };
    workerPacks.set(entry.pack, pack);
  }
  if (entry.offset !== pack.end + ENTRY_HEAD) return;
  pack.entries.push({ digest, offset: entry.offset, size: entry.size });
  pack.end = entry.offset + entry.size;
}

function indexWorkerPacks(): void {
  for (const [path, { layout, entries, end }] of workerPacks) {
    // A pack the worker sealed itself (it reached its size limit) has its index already.
    if (!existsSync(indexPathOf(path))) writePackIndex(layout, path, entries, end);
  }
}

/** Staging dirs to remove when the process exits: empty once every put renamed its file out; one left non-empty is cleanTemp's. */
const stagingDirs = new Set<string>();

function removeAtExit(dir: string): void {
  if (stagingDirs.size === 0) {
    process.once('exit', () => {
      for (const d of stagingDirs) try { rmdirSync(d); } catch { /* absent, or not empty */ }
    });
  }
  stagingDirs.add(dir);
}

function settle(w: Waiting, outcome: PutFileOutcome): void {
  if ('digest' in outcome) w.resolve({ ...outcome, digest: asDigest(outcome.digest) });
  else if ('unreadable' in outcome) w.resolve({ unreadable: errnoError(outcome.unreadable) });
  else if ('failed' in outcome) w.reject(fsError(errnoError(outcome.failed), outcome.path, 'writing'));
  else w.resolve(outcome);
}
