// castore to NAR, streaming: a root Node rendered to exactly the bytes `nix store
// dump-path` gives for the same tree, every blob read through the store's verified read,
// the NAR's sha256 and size computed on the way.

import { createHash } from 'node:crypto';
import { blake3 } from '../../verify/blake3/index.js';
import type { BlobService } from '../blob-service.js';
import { directorySize, nodesOf, validateNode, type Node } from '../castore/index.js';
import { asDigest, digestEquals, type Digest } from '../digest.js';
import { ChildSizeMismatchError, MissingChildError, type DirectoryService } from '../directory-service.js';
import { NarAbandonedError, NarFileSizeError, NarMissingBlobError } from './nar-errors.js';

export interface NarRenderOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  /** Bytes per emitted chunk (the last may be shorter). @default 262144 */
  readonly chunkSize?: number;
}

export interface NarSummary {
  /** sha256 of the whole NAR, 32 bytes (Nix's narHash). */
  readonly narHash: Uint8Array;
  readonly narSize: number;
}

/** 256 KiB: few enough chunks for a consumer's per-chunk costs to vanish, small enough to stream. */
const DEFAULT_CHUNK = 256 * 1024;
/** Blobs the store may hand over whole (readSmall): one 16 KiB group. */
const SMALL_BLOB = 16_384;
const EMPTY_BLOB = asDigest(blake3(new Uint8Array(0)));

/**
 * The NAR of one tree, as a stream to iterate once. `result` settles when the stream
 * does: with the narHash and narSize once the last byte was handed out, or with the
 * error that failed the stream (a missing or corrupt blob or Directory, as the store
 * reports it; NarAbandonedError if the consumer stopped early).
 */
export class NarRender implements AsyncIterable<Uint8Array> {
  readonly result: Promise<NarSummary>;
  #settle!: { resolve: (s: NarSummary) => void; reject: (e: unknown) => void };
  #started = false;

  constructor(readonly root: Node, private readonly options: NarRenderOptions) {
    this.result = new Promise<NarSummary>((resolve, reject) => { this.#settle = { resolve, reject }; });
    // Callers that only iterate must not see an unhandled rejection; those that await it still get it.
    this.result.catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#started) throw new TypeError('a NarRender can be iterated only once');
    this.#started = true;
    const run = this.#run();
    return {
      next: () => run.next(),
      // A generator closed before its first step never runs its finally: settle here too
      // (a no-op once the stream settled the result itself).
      return: async () => {
        await run.return(undefined);
        this.#settle.reject(new NarAbandonedError(this.#emitted));
        return { done: true, value: undefined };
      },
    };
  }

  /** Bytes handed out so far. */
  #emitted = 0;

  async *#run(): AsyncGenerator<Uint8Array, undefined> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of render(this.root, this.options)) {
        hash.update(chunk);
        this.#emitted += chunk.length;
        yield chunk;
      }
    } catch (err: unknown) {
      this.#settle.reject(err);
      throw err;
    }
    this.#settle.resolve({ narHash: new Uint8Array(hash.digest()), narSize: this.#emitted });
    return undefined;
  }
}

/** Renders the NAR of `root` (its own name is not part of a NAR) as a NarRender. */
export function renderNar(root: Node, options: NarRenderOptions): NarRender {
  return new NarRender(root, options);
}

/** The narHash and narSize of `root`'s NAR, rendered and discarded. */
export async function narHashOf(root: Node, blobs: BlobService, directories: DirectoryService): Promise<NarSummary> {
  const r = renderNar(root, { blobs, directories });
  for await (const _ of r) { /* only the summary is wanted */ }
  return r.result;
}

const enc = new TextEncoder();
/** Tokens strung together as the NAR writes them, each a length-prefixed padded string. */
const tokens = (...ss: string[]): Uint8Array => {
  const parts = ss.map((s) => enc.encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 8 + padded(p.length), 0));
  let at = 0;
  for (const p of parts) {
    new DataView(out.buffer).setUint32(at, p.length, true);
    out.set(p, at + 8);
    at += 8 + padded(p.length);
  }
  return out;
};
const padded = (n: number): number => (n + 7) & ~7;

const MAGIC = tokens('nix-archive-1');
const REGULAR = tokens('(', 'type', 'regular', 'contents');
const EXECUTABLE = tokens('(', 'type', 'regular', 'executable', '', 'contents');
const SYMLINK = tokens('(', 'type', 'symlink', 'target');
const DIRECTORY = tokens('(', 'type', 'directory');
const ENTRY = tokens('entry', '(', 'name');
const NODE = tokens('node');
const CLOSE = tokens(')');

/** Per open directory: its entries in name order and the next one to render. */
interface Frame {
  readonly digest: Digest;
  readonly nodes: Node[];
  next: number;
}

async function* render(root: Node, options: NarRenderOptions): AsyncGenerator<Uint8Array> {
  const out = new Out(options.chunkSize ?? DEFAULT_CHUNK);
  const { blobs, directories } = options;
  // The root's own name is not in the NAR; whatever it is, the rest of the node must be valid.
  const loose = root as { file?: { name?: Uint8Array }; symlink?: { name?: Uint8Array }; directory?: { name?: Uint8Array } };
  const rootName = loose.file?.name ?? loose.symlink?.name ?? loose.directory?.name;
  validateNode(root, { anonymous: rootName?.length === 0 });
  out.bytes(MAGIC);
  const open: Frame[] = [];
  let node: Node | undefined = root;
  for (;;) {
    if (node !== undefined) {
      if ('file' in node) {
        yield* renderFile(out, blobs, node.file);
        out.bytes(CLOSE);
        if (open.length > 0) out.bytes(CLOSE); // the entry's
      } else if ('symlink' in node) {
        out.bytes(SYMLINK);
        out.string(node.symlink.target);
        out.bytes(CLOSE);
        if (open.length > 0) out.bytes(CLOSE);
      } else {
        const { name, digest: d, size } = node.directory;
        const digest = asDigest(d);
        // get() checks the bytes against the digest; the size claim is checked here, as
        // getRecursive would, so a tree renders only if the store would hand it out whole.
        const dir = await directories.get(digest);
        if (dir === undefined) throw new MissingChildError(open[open.length - 1]?.digest, name, digest);
        const actual = directorySize(dir);
        if (actual !== size) throw new ChildSizeMismatchError(name, digest, size, actual);
        out.bytes(DIRECTORY);
        open.push({ digest, nodes: nodesOf(dir), next: 0 });
      }
      node = undefined;
    }
    const top = open[open.length - 1];
    if (top === undefined) break;
    if (top.next < top.nodes.length) {
      node = top.nodes[top.next++]!;
      out.bytes(ENTRY);
      out.string(nodeNameOf(node));
      out.bytes(NODE);
    } else {
      open.pop();
      out.bytes(CLOSE);
      if (open.length > 0) out.bytes(CLOSE);
    }
    yield* out.ready();
  }
  yield* out.ready();
  yield* out.end();
}

function nodeNameOf(node: Node): Uint8Array {
  if ('file' in node) return node.file.name;
  if ('symlink' in node) return node.symlink.name;
  return node.directory.name;
}

/** A file node's header and content; the caller closes the node. */
async function* renderFile(out: Out, blobs: BlobService, file: { digest: Uint8Array; size: bigint; executable: boolean }): AsyncGenerator<Uint8Array> {
  const digest = asDigest(file.digest);
  const claimed = file.size;
  out.bytes(file.executable ? EXECUTABLE : REGULAR);
  out.u64(claimed);
  if (claimed === 0n && digestEquals(digest, EMPTY_BLOB)) {
    yield* out.ready();
    return;
  }
  let got = 0;
  const take = (piece: Uint8Array): void => {
    got += piece.length;
    if (BigInt(got) > claimed) throw new NarFileSizeError(digest, claimed, Number(claimed), true);
    out.bytes(piece);
  };
  const small = claimed <= BigInt(SMALL_BLOB) && blobs.readSmall !== undefined ? blobs.readSmall(digest) : undefined;
  if (small !== undefined) {
    take(small);
  } else {
    const stream = await blobs.read(digest);
    if (stream === undefined) throw new NarMissingBlobError(digest);
    for await (const piece of stream) {
      take(piece);
      yield* out.ready();
    }
  }
  if (BigInt(got) !== claimed) throw new NarFileSizeError(digest, claimed, got, false);
  out.padding(got);
  yield* out.ready();
}

/** Bytes gathered into fixed-size chunks; full ones wait in `ready` to be yielded. */
class Out {
  #buf: Uint8Array;
  #n = 0;
  readonly #full: Uint8Array[] = [];

  constructor(readonly chunkSize: number) {
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 64) throw new RangeError(`chunkSize ${chunkSize} is below 64 bytes`);
    this.#buf = Buffer.allocUnsafe(chunkSize);
  }

  bytes(b: Uint8Array): void {
    for (let at = 0; at < b.length;) {
      const k = Math.min(b.length - at, this.#buf.length - this.#n);
      this.#buf.set(k === b.length ? b : b.subarray(at, at + k), this.#n);
      this.#n += k;
      at += k;
      if (this.#n === this.#buf.length) {
        this.#full.push(this.#buf);
        // Not zero-filled: every byte is written before the chunk is handed out.
        this.#buf = Buffer.allocUnsafe(this.chunkSize);
        this.#n = 0;
      }
    }
  }

  u64(v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.bytes(b);
  }

  string(s: Uint8Array): void {
    this.u64(BigInt(s.length));
    this.bytes(s);
    this.padding(s.length);
  }

  padding(n: number): void {
    const pad = padded(n) - n;
    if (pad > 0) this.bytes(ZEROS.subarray(0, pad));
  }

  *ready(): Generator<Uint8Array> {
    while (this.#full.length > 0) yield this.#full.shift()!;
  }

  *end(): Generator<Uint8Array> {
    // A short tail is copied, so a small NAR kept by its consumer does not pin a whole chunk.
    if (this.#n > 0) yield this.#n < this.chunkSize / 4 ? this.#buf.slice(0, this.#n) : this.#buf.subarray(0, this.#n);
    this.#n = 0;
  }
}

const ZEROS = new Uint8Array(8);
