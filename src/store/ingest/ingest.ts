// Ingest: a path on disk into a BlobService and DirectoryService as a castore tree.
// Regular files become blobs (streamed, several files at once), directories become
// Directories put children-first so the store stays closed under references, symlinks
// are stored as their target bytes and never followed. Names are read as raw bytes,
// so names that are not UTF-8 keep their exact bytes and with them the tree's digest.

import { readFileSync } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import { CastorError } from '../../verify/index.js';
import type { BlobService } from '../blob-service.js';
import { directoryFrom, directorySize, validateName, type Node } from '../castore/index.js';
import { limit, type Limit } from '../util/index.js';
import { asDigest, type Digest } from '../digest.js';
import type { DirectoryService } from '../directory-service.js';
import { isNotFound } from '../fs/index.js';

/** Sockets, FIFOs, devices, or a top-level symlink: nothing castore can hold as given. */
export class UnsupportedFileError extends CastorError {
  constructor(readonly path: string, what: string) {
    super('UNSUPPORTED_FILE', `${path}: ${what}`, path);
  }
}

/** A path that cannot be read (missing, permission), named in the message. */
export class IngestReadError extends CastorError {
  constructor(readonly path: string, options: { cause: unknown }) {
    const e = options.cause as NodeJS.ErrnoException;
    super('INGEST_READ', `${path}: ${isNotFound(e) ? 'no such file or directory' : e?.code ?? String(e)}`, path, options);
  }
}

export interface IngestOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  /** Files read and stored at once. @default 8 */
  readonly concurrency?: number;
  /** Called as content is stored, with the running totals. */
  readonly onProgress?: (progress: IngestProgress) => void;
}

export interface IngestProgress {
  files: number;
  bytes: number;
}

export interface IngestResult {
  /** The root node; its name is the last component of the path given. */
  readonly node: Node;
  readonly type: 'file' | 'directory';
  readonly digest: Digest;
  /** Content bytes of a file; `directorySize` (the castore entry count) of a directory. */
  readonly size: bigint;
  /** Regular files stored. */
  readonly files: number;
  /** Content bytes of those files. */
  readonly bytes: number;
  /** Of those, bytes the store did not hold before (new chunks). */
  readonly newBytes: number;
}

/** Reads of a file go in pieces of this size: big enough for few syscalls, small enough to bound memory. */
const READ_SIZE = 1 << 20;
/** Pieces of a large file in memory at once: one being stored, the others read ahead. */
const READ_BUFFERS = 4;

interface Totals {
  files: number;
  bytes: number;
  newBytes: number;
}

/**
 * Stores the file or directory tree at `path` and resolves to its root. A symlink at
 * `path` itself is refused (store its directory, or pass the target): castore has no
 * digest for a lone symlink.
 */
export async function ingestPath(path: string, options: IngestOptions): Promise<IngestResult> {
  const totals: Totals = { files: 0, bytes: 0, newBytes: 0 };
  const ctx: Ctx = { options, totals, limit: limit(options.concurrency ?? 8), spareRunners: { n: SPARE_DIR_RUNNERS } };
  const p = Buffer.from(path);
  const st = await lstatOf(p);
  const name = baseName(p);
  let node: Node;
  if (st.isDirectory()) node = await ingestDir(ctx, p, name);
  else if (st.isFile()) node = await ingestFile(ctx, p, name, st);
  else if (st.isSymbolicLink()) throw new UnsupportedFileError(path, 'is a symlink; castor stores symlinks inside directories (add the directory holding it, or its target)');
  else throw new UnsupportedFileError(path, `is ${kindOf(st)}; castor stores regular files, directories and symlinks`);
  const type = 'directory' in node ? 'directory' : 'file';
  const entry = 'directory' in node ? node.directory : (node as { file: { digest: Uint8Array; size: bigint } }).file;
  return { node, type, digest: asDigest(entry.digest), size: entry.size, ...totals };
}

interface Ctx {
  readonly options: IngestOptions;
  readonly totals: Totals;
  readonly limit: Limit;
  /** Subdirectory runners beyond each directory's first still free in the whole tree. */
  readonly spareRunners: { n: number };
}

/** Extra subdirectories ingested at once across the tree (see ingestDir). */
const SPARE_DIR_RUNNERS = 4;

async function ingestDir(ctx: Ctx, dir: Buffer, name: Uint8Array): Promise<Node> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { encoding: 'buffer', withFileTypes: true }) as unknown as Dirent[];
  } catch (err: unknown) {
    throw new IngestReadError(show(dir), { cause: err });
  }
  const names = entries.map((e) => e.name as unknown as Buffer);
  // Files of every level share the limiter, so a wide directory still has `concurrency`
  // large files in flight (small ones go to the store's putFile, which batches them).
  const nodes = await Promise.all(entries.map(async (e, i): Promise<Node | undefined> => {
    const child = names[i]!;
    validateName(child);
    const p = Buffer.concat([dir, SLASH, child]);
    // A file as the listing says goes straight to the store, which opens and checks it
    // itself (no lstat first); anything else, or a file that changed, is looked at here.
    if (e.isFile() && ctx.options.blobs.putFile) {
      const node = await ingestListedFile(ctx, p, child);
      if (node !== undefined) return node;
    }
    return ingestEntry(ctx, p, child);
  }));
  // Subdirectories in order by one runner, and by more while the tree has spare runners:
  // a directory of small files ends in a round whose last files the other thread may
  // still be storing, and a sibling's files keep both threads busy meanwhile. Every
  // directory gets its first runner without asking, so none waits on another for a slot,
  // and at most SPARE_DIR_RUNNERS more run in the whole tree (depth + 4 listings held).
  const subdirs = nodes.flatMap((n, i) => (n === undefined ? [i] : []));
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < subdirs.length) {
      const i = subdirs[next++]!;
      nodes[i] = await ingestDir(ctx, Buffer.concat([dir, SLASH, names[i]!]), names[i]!);
    }
  };
  const runners = [run()];
  while (runners.length < subdirs.length && ctx.spareRunners.n > 0) {
    ctx.spareRunners.n--;
    runners.push(run().finally(() => { ctx.spareRunners.n++; }));
  }
  await Promise.all(runners);
  const directory = directoryFrom(nodes as Node[]);
  const digest = await ctx.options.directories.put(directory);
  return { directory: { name, digest, size: directorySize(directory) } };
}

/** A directory entry by its lstat: a file or symlink node, or undefined for a subdirectory. */
async function ingestEntry(ctx: Ctx, p: Buffer, child: Uint8Array): Promise<Node | undefined> {
  const st = await lstatOf(p);
  if (st.isFile()) return ingestFile(ctx, p, child, st);
  if (st.isSymbolicLink()) {
    let target: Buffer;
    try {
      target = await readlink(p, { encoding: 'buffer' });
    } catch (err: unknown) {
      throw new IngestReadError(show(p), { cause: err });
    }
    return { symlink: { name: child, target } };
  }
  if (st.isDirectory()) return undefined;
  throw new UnsupportedFileError(show(p), `is ${kindOf(st)}; castor stores regular files, directories and symlinks`);
}

/**
 * A file the listing called regular, through the store's putFile: stored if small, streamed
 * if large; undefined if it is no longer a regular file (the caller looks at it again).
 */
async function ingestListedFile(ctx: Ctx, file: Buffer, name: Uint8Array): Promise<Node | undefined> {
  const r = await ctx.options.blobs.putFile!(file);
  if ('notRegular' in r) return undefined;
  if ('unreadable' in r) throw new IngestReadError(show(file), { cause: r.unreadable });
  if ('large' in r) return streamFile(ctx, file, name, r.large);
  return fileStored(ctx, name, r);
}

/** Files up to this size are read whole and stored with the store's one-step put, where it has one. */
const SMALL_FILE = 1 << 20;

/** The mode and size of a file, from lstat or fstat. */
type FileInfo = Pick<Stats, 'size' | 'mode'>;

function ingestFile(ctx: Ctx, file: Buffer, name: Uint8Array, st: FileInfo): Promise<Node> {
  const { blobs } = ctx.options;
  if (st.size <= SMALL_FILE && blobs.putFile) {
    return ingestListedFile(ctx, file, name).then((node) => node ?? raced(file));
  }
  if (st.size <= SMALL_FILE && blobs.putBytes) return ingestSmallFile(ctx, file, name, st);
  return streamFile(ctx, file, name, st);
}

/** A file lstat called regular that is not one when opened: replaced meanwhile. */
function raced(file: Buffer): never {
  throw new UnsupportedFileError(show(file), 'changed while being added (no longer a regular file)');
}

/** A file streamed through a writer with bounded memory, at most `concurrency` at once. */
function streamFile(ctx: Ctx, file: Buffer, name: Uint8Array, st: FileInfo): Promise<Node> {
  return ctx.limit(async () => {
    const { blobs, onProgress } = ctx.options;
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err: unknown) {
      throw new IngestReadError(show(file), { cause: err });
    }
    const writer = blobs.openWriter({ sizeHint: st.size });
    let size = 0;
    try {
      // READ_BUFFERS buffers in turn: while the writer takes one piece, the next ones are
      // being read, and a buffer is read into again once its write resolved (the writer
      // then holds no view of it), so a large file costs no allocation (and no collection)
      // per piece. Reads go through the thread pool, whose threads wait for a core like any
      // other on a busy machine: with one read ahead the main thread waited 0.2-0.4 s per
      // 512 MiB for them.
      const piece = Math.min(READ_SIZE, st.size + 1);
      const bufs = Array.from({ length: READ_BUFFERS }, () => Buffer.allocUnsafe(piece));
      const readInto = async (buf: Buffer, at: number): Promise<number> => {
        try {
          return (await fh!.read(buf, 0, buf.length, at)).bytesRead;
        } catch (err: unknown) {
          throw new IngestReadError(show(file), { cause: err });
        }
      };
      const reads: Promise<number>[] = [];
      let readAt = 0;
      const readAhead = (buf: Buffer): void => {
        const p = readInto(buf, readAt);
        readAt += piece;
        // A read that fails while earlier pieces are written must not count as unhandled.
        p.catch(() => undefined);
        reads.push(p);
      };
      try {
        for (let i = 0; i < READ_BUFFERS - 1; i++) readAhead(bufs[i]!);
        for (let turn = 0; ; turn = (turn + 1) % READ_BUFFERS) {
          const buf = bufs[turn]!;
          const n = await reads.shift()!;
          // One more byte than lstat promised, so a file read whole ends on a short read;
          // regular files read short only at their end (reads past it find nothing).
          if (n === buf.length) readAhead(bufs[(turn + READ_BUFFERS - 1) % READ_BUFFERS]!);
          if (n > 0) {
            await writer.write(buf.subarray(0, n));
            size += n;
            ctx.totals.bytes += n;
            onProgress?.({ files: ctx.totals.files, bytes: ctx.totals.bytes });
          }
          if (n < buf.length) break;
        }
      } finally {
        // None still reading into a buffer when the file is closed.
        await Promise.allSettled(reads);
      }
      const digest = await writer.close();
      ctx.totals.files++;
      ctx.totals.newBytes += writer.newBytes ?? 0;
      onProgress?.({ files: ctx.totals.files, bytes: ctx.totals.bytes });
      // Nix and tvix take the owner's execute bit as "executable".
      return { file: { name, digest, size: BigInt(size), executable: (st.mode & 0o100) !== 0 } };
    } catch (err: unknown) {
      await writer.abort();
      throw err;
    } finally {
      await fh.close();
    }
  });
}

/**
 * Read and stored synchronously: for small files the system calls take microseconds and
 * the thread-pool round trips of the async path would cost more than the work.
 */
async function ingestSmallFile(ctx: Ctx, file: Buffer, name: Uint8Array, st: FileInfo): Promise<Node> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err: unknown) {
    throw new IngestReadError(show(file), { cause: err });
  }
  const { digest, newBytes } = await ctx.options.blobs.putBytes!(bytes);
  return fileStored(ctx, name, { digest, newBytes, size: bytes.length, mode: st.mode });
}

/** Counts a file stored in one step and makes its node. */
function fileStored(ctx: Ctx, name: Uint8Array, r: { digest: Digest; newBytes: number; size: number; mode: number }): Node {
  const t = ctx.totals;
  t.files++;
  t.bytes += r.size;
  t.newBytes += r.newBytes;
  ctx.options.onProgress?.({ files: t.files, bytes: t.bytes });
  // Nix and tvix take the owner's execute bit as "executable".
  return { file: { name, digest: r.digest, size: BigInt(r.size), executable: (r.mode & 0o100) !== 0 } };
}

const SLASH = Buffer.from('/');

async function lstatOf(p: Buffer): Promise<Stats> {
  try {
    return await lstat(p);
  } catch (err: unknown) {
    throw new IngestReadError(show(p), { cause: err });
  }
}

/** The last component of a path, ignoring trailing slashes; a root or '.' gets its resolved name's. */
function baseName(p: Buffer): Uint8Array {
  let end = p.length;
  while (end > 1 && p[end - 1] === 0x2f) end--;
  const start = p.lastIndexOf(0x2f, end - 1) + 1;
  const name = p.subarray(start, end);
  if (name.length === 0 || name.equals(DOT) || name.equals(DOTDOT)) return new Uint8Array(0);
  return new Uint8Array(name);
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** A path for messages: as text when it is UTF-8, with \xNN for each byte where it is not. */
export function showPath(p: Uint8Array): string {
  try {
    return UTF8.decode(p);
  } catch {
    let out = '';
    for (const b of p) out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
    return out;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const show = showPath;

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file, directory or symlink';
}
