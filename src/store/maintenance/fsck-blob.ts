// fsck's check of one blob: its record decodes, every chunk it names is there with the
// size it says and hashes to its own name, and the whole content, read through the bao
// decoder against the record's outboard, hashes to the blob's digest. The content is
// streamed and dropped: at most one chunk (or 1 MiB of a larger one) and the decoder's
// batch are in memory. Each chunk is hashed as it is loaded, so a chunk is read once for
// both checks, and never hashed again for another blob that shares it.

import { decode, groupBytes, joinPieces, OutboardSource, type ByteReader } from '../../verify/index.js';
import { Hasher, type Blake3Kernel } from '../../verify/index.js';
import { CastorError, UnexpectedEofError } from '../../verify/index.js';
import { BLOB_GROUP_LOG, type ChunkRef, type Digest } from '../blob-service.js';
import { ChunkBook, WHOLE_CHUNK_MAX, type ChunkVerdict } from './chunk-check.js';
import { ChunkTable } from '../disk/index.js';
import { asDigest, formatDigest } from '../digest.js';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';
import { chunkDigest } from '../disk/index.js';
import { openChunk, type ChunkHandle } from '../disk/index.js';
import { loadRecord, readAt, readSome } from '../disk/index.js';

/** What is wrong with a blob, and which stored part is to blame. */
export type BlobFault =
  | { readonly code: 'CORRUPT_RECORD'; readonly detail: string }
  | { readonly code: 'CORRUPT_CHUNK'; readonly chunk: Digest; readonly offset: number; readonly detail: string }
  | { readonly code: 'MISSING_CHUNK'; readonly chunk: Digest; readonly offset: number };

/** Carries a fault out of the decoder, which only passes errors through. */
class FaultThrown extends Error {
  constructor(readonly fault: BlobFault) {
    super(fault.code);
  }
}

/** Decoder failures that mean the stored data or outboard is bad. */
const VERIFY_FAILURES = new Set(['HASH_MISMATCH', 'UNEXPECTED_EOF', 'LENGTH_TOO_LARGE']);

export interface BlobCheck {
  /** Undefined when the blob verified. */
  readonly fault: BlobFault | undefined;
  /** The record vanished before it could be read (removed meanwhile): nothing was checked. */
  readonly absent?: boolean;
  /** Bytes of the record file. */
  readonly recordBytes: number;
}

export interface CheckBlobOptions {
  /** The decoder's kernel; one per concurrent check (a decode keeps its batch in kernel memory). */
  kernel?: Blake3Kernel;
  /** Called with the size of each chunk hashed for the first time (for progress). */
  onChunkVerified?: (bytes: number) => void;
}


/**
 * Verifies the blob `blob` completely. I/O failures other than a chunk that cannot be
 * read are thrown: they say nothing about the blob.
 */
export async function checkBlob(book: ChunkBook, blob: Digest, options: CheckBlobOptions = {}): Promise<BlobCheck> {
  let rec;
  try {
    rec = await loadRecord(book.layout, blob);
  } catch (err: unknown) {
    if (err instanceof CastorError && err.code === 'CORRUPT_RECORD') return { fault: { code: 'CORRUPT_RECORD', detail: detailOf(err) }, recordBytes: 0 };
    throw err;
  }
  if (rec === undefined) return { fault: undefined, absent: true, recordBytes: 0 };
  const { head, table, outboard, recordBytes } = rec;
  const chunks = table.list();
  const data = new VerifyingChunkReader(book, table, options.onChunkVerified ?? (() => {}));
  try {
    for (const [i, c] of chunks.entries()) {
      if (book.bad.has(c.digest)) {
        return { fault: { code: 'CORRUPT_CHUNK', chunk: c.digest, offset: data.chunkStart(i), detail: 'found corrupt earlier in this check' }, recordBytes };
      }
    }
    const source = new OutboardSource(outboard, data);
    for await (const _ of decode(source, { hash: blob, groupLog: BLOB_GROUP_LOG, kernel: options.kernel })) { /* verified and dropped */ }
    return { fault: undefined, recordBytes };
  } catch (err: unknown) {
    if (err instanceof FaultThrown) return { fault: err.fault, recordBytes };
    if (err instanceof CastorError && VERIFY_FAILURES.has(err.code)) {
      const offset = err.code === 'HASH_MISMATCH' && typeof err.value === 'number' ? err.value : 0;
      return { fault: await blame(book, chunks, data, head.size, offset), recordBytes };
    }
    throw err;
  } finally {
    await data.close();
    await rec.close();
  }
}

/**
 * The decoder rejected content near `offset`: hash the chunks under that 16 KiB group
 * (those the reader has not hashed whole already). If they all match their names, the
 * record's outboard is what is wrong.
 */
async function blame(book: ChunkBook, chunks: readonly ChunkRef[], data: VerifyingChunkReader, size: number, offset: number): Promise<BlobFault> {
  const gb = groupBytes(BLOB_GROUP_LOG);
  const start = Math.min(Math.floor(offset / gb) * gb, Math.max(0, size - 1));
  const end = Math.min(start + gb, size);
  for (let i = size === 0 ? chunks.length : data.chunkAt(start); i < chunks.length && data.chunkStart(i) < end; i++) {
    const c = chunks[i]!;
    const v = await book.check(c.digest);
    if (v.state === 'missing') return { code: 'MISSING_CHUNK', chunk: c.digest, offset: data.chunkStart(i) };
    if (v.state === 'corrupt') return { code: 'CORRUPT_CHUNK', chunk: c.digest, offset: data.chunkStart(i), detail: v.detail };
  }
  return { code: 'CORRUPT_RECORD', detail: `its outboard does not match the stored data at content offset ${offset}` };
}

function detailOf(err: CastorError): string {
  const m = /is corrupt: (.*)$/.exec(err.message);
  return m ? m[1]! : err.message;
}

type WholeRead = { buf: Uint8Array; got: number } | { error: unknown; opened?: boolean };

/**
 * The blob's chunks in order, each opened and checked for size, loaded whole (or in 1 MiB
 * windows when larger) and hashed against its name as it is loaded. Sequential only:
 * a full decode reads every byte in order, and skip() reads through.
 */
class VerifyingChunkReader implements ByteReader {
  position = 0;
  readonly #book: ChunkBook;
  readonly #chunks: readonly ChunkRef[];
  readonly #table: ChunkTable;
  readonly #onVerified: (bytes: number) => void;
  #index = -1;
  #loaded = 0;
  #file: ChunkHandle | undefined;
  #hasher: Hasher | undefined;
  // Content bytes [bufStart, bufStart + buf.length). Replaced, never refilled, so views
  // the decoder holds in its batch stay valid.
  #buf: Uint8Array = new Uint8Array(0);
  #bufStart = 0;
  /** The next chunk's read, started early. */
  #ahead: { index: number; read: Promise<WholeRead> } | undefined;

  constructor(book: ChunkBook, table: ChunkTable, onVerified: (bytes: number) => void) {
    this.#book = book;
    this.#chunks = table.list();
    this.#table = table;
    this.#onVerified = onVerified;
  }

  chunkStart(i: number): number {
    return this.#table.start(i);
  }

  chunkAt(offset: number): number {
    return this.#table.chunkAt(offset);
  }

  readNow(n: number): Uint8Array | null {
    const off = this.position - this.#bufStart;
    if (n === 0 || off < 0 || off + n > this.#buf.length) return null;
    this.position += n;
    return this.#buf.subarray(off, off + n);
  }

  async read(n: number): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    const now = this.readNow(n);
    if (now) return now;
    const pieces: Uint8Array[] = [];
    let pos = this.position;
    for (let left = n; left > 0;) {
      if (pos >= this.#bufStart + this.#buf.length) await this.#loadNext(n);
      const off = pos - this.#bufStart;
      const take = Math.min(left, this.#buf.length - off);
      pieces.push(this.#buf.subarray(off, off + take));
      pos += take;
      left -= take;
    }
    this.position = pos;
    return joinPieces(pieces, n);
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const step = Math.min(n, WHOLE_CHUNK_MAX);
      await this.read(step);
      n -= step;
    }
  }

  async close(): Promise<void> {
    const f = this.#file;
    this.#file = undefined;
    await f?.close();
  }

  /** Loads the next window of content, moving to the next chunk when this one is done. */
  async #loadNext(wanted: number): Promise<void> {
    if (this.#index < 0 || this.#loaded === this.#chunks[this.#index]!.size) {
      await this.close();
      this.#index++;
      if (this.#index >= this.#chunks.length) throw new UnexpectedEofError(this.#table.size, wanted);
      const c = this.#chunks[this.#index]!;
      const at = this.#table.start(this.#index);
      this.#loaded = 0;
      if (c.size <= WHOLE_CHUNK_MAX) {
        const pending = this.#ahead?.index === this.#index ? this.#ahead.read : this.#readWhole(c);
        this.#ahead = undefined;
        this.#prefetch(this.#index + 1);
        this.#buf = await this.#loadWhole(c, at, await pending);
        this.#bufStart = at;
        this.#loaded = c.size;
        return;
      }
      await this.#openLarge(c, at);
    }
    const c = this.#chunks[this.#index]!;
    const at = this.#table.start(this.#index);
    const len = Math.min(WHOLE_CHUNK_MAX, c.size - this.#loaded);
    let buf: Uint8Array;
    try {
      buf = await readAt(this.#file!, this.#loaded, len);
    } catch (err: unknown) {
      if (err instanceof CastorError && err.code === 'UNEXPECTED_EOF') this.#corrupt(c, at, 'its file was cut short while being read');
      if (errnoOf(err) === 'EIO') this.#corrupt(c, at, 'its file cannot be read (EIO)');
      throw fsError(err, this.#book.layout.chunkPath(c.digest), 'reading');
    }
    if (this.#hasher !== undefined) {
      this.#hasher.update(buf);
      if (this.#loaded + len === c.size) this.#judge(c, at, () => asDigest(this.#hasher!.finalize().hash));
    }
    this.#buf = buf;
    this.#bufStart = at + this.#loaded;
    this.#loaded += len;
  }

  /**
   * Starts reading chunk `i` (if it is a whole one) while the decoder works on the current
   * one, so disk and hashing overlap. Its failure, if any, is met when the chunk is reached.
   */
  #prefetch(i: number): void {
    const c = this.#chunks[i];
    if (c === undefined || c.size > WHOLE_CHUNK_MAX) return;
    const read = this.#readWhole(c);
    read.catch(() => undefined);
    this.#ahead = { index: i, read };
  }

  /** Open, one read (one byte more than the chunk should have, to catch a longer file), close. */
  async #readWhole(c: ChunkRef): Promise<WholeRead> {
    let fh: ChunkHandle;
    try {
      fh = await openChunk(this.#book.layout, c);
    } catch (err: unknown) {
      return { error: err };
    }
    const buf = new Uint8Array(c.size + 1);
    try {
      return { buf, got: await readSome(fh, buf, 0) };
    } catch (err: unknown) {
      return { error: err, opened: true };
    } finally {
      await fh.close();
    }
  }

  /** Judges a whole chunk read by #readWhole: there, the size it should be, hashing to its name. */
  async #loadWhole(c: ChunkRef, at: number, r: WholeRead): Promise<Uint8Array> {
    if ('error' in r) {
      if (!r.opened) {
        if (!isNotFound(r.error)) throw fsError(r.error, this.#book.layout.chunkPath(c.digest), 'opening');
        // Quarantined by a concurrent check of another blob that shares it.
        if (this.#book.bad.has(c.digest)) this.#corrupt(c, at, 'found corrupt earlier in this check');
        throw new FaultThrown({ code: 'MISSING_CHUNK', chunk: c.digest, offset: at });
      }
      if (errnoOf(r.error) === 'EIO') this.#corrupt(c, at, 'its file cannot be read (EIO)');
      throw fsError(r.error, this.#book.layout.chunkPath(c.digest), 'reading');
    }
    if (r.got !== c.size) await this.#wrongSize(c, at, r.got > c.size ? await this.#sizeText(c) : `${r.got}`);
    const bytes = r.buf.subarray(0, c.size);
    if (!this.#book.good.has(c.digest)) this.#judge(c, at, () => chunkDigest(bytes));
    return bytes;
  }

  /** A chunk over 1 MiB: opened and size-checked here, then read and hashed in windows. */
  async #openLarge(c: ChunkRef, at: number): Promise<void> {
    const fh = await this.#open(c, at);
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err: unknown) {
      await fh.close();
      throw fsError(err, this.#book.layout.chunkPath(c.digest), 'checking');
    }
    if (size !== c.size) {
      await fh.close();
      await this.#wrongSize(c, at, `${size}`);
    }
    this.#file = fh;
    this.#hasher = this.#book.good.has(c.digest) ? undefined : new Hasher();
  }

  async #open(c: ChunkRef, at: number): Promise<ChunkHandle> {
    try {
      return await openChunk(this.#book.layout, c);
    } catch (err: unknown) {
      if (!isNotFound(err)) throw fsError(err, this.#book.layout.chunkPath(c.digest), 'opening');
      // Quarantined by a concurrent check of another blob that shares it.
      if (this.#book.bad.has(c.digest)) this.#corrupt(c, at, 'found corrupt earlier in this check');
      throw new FaultThrown({ code: 'MISSING_CHUNK', chunk: c.digest, offset: at });
    }
  }

  /** The chunk's size for a message (rare path: it is not the size the record gives). */
  async #sizeText(c: ChunkRef): Promise<string> {
    try {
      const fh = await openChunk(this.#book.layout, { digest: c.digest, size: 0 });
      try {
        return `${(await fh.stat()).size}`;
      } finally {
        await fh.close();
      }
    } catch {
      return `more than ${c.size}`;
    }
  }

  /** The chunk file is not the size the record gives it: a file that still hashes to its name is right, and the record wrong. */
  async #wrongSize(c: ChunkRef, at: number, actual: string): Promise<never> {
    const v: ChunkVerdict = await this.#book.check(c.digest);
    if (v.state === 'ok') {
      throw new FaultThrown({ code: 'CORRUPT_RECORD', detail: `it gives chunk ${formatDigest(c.digest)} ${c.size} bytes, the chunk has ${actual}` });
    }
    if (v.state === 'missing') throw new FaultThrown({ code: 'MISSING_CHUNK', chunk: c.digest, offset: at });
    this.#corrupt(c, at, `its file is ${actual} bytes, the record says ${c.size} (${v.detail})`);
  }

  #judge(c: ChunkRef, at: number, digest: () => Digest): void {
    const v = this.#book.judge(c.digest, digest());
    if (v.state === 'corrupt') this.#corrupt(c, at, v.detail);
    this.#onVerified(c.size);
  }

  #corrupt(c: ChunkRef, at: number, detail: string): never {
    this.#book.bad.add(c.digest);
    throw new FaultThrown({ code: 'CORRUPT_CHUNK', chunk: c.digest, offset: at, detail });
  }
}
