// Streaming decoders for the compressions binary caches use on NARs (none, xz, zstd,
// bzip2, br), pulled by the consumer so memory stays bounded, every failure (corrupt,
// truncated, trailing bytes) a typed DecompressError. Choice of packages: README.

import { createRequire } from 'node:module';
import { Readable, type Transform } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { createUnxz } from 'node-liblzma';
import { CastorError } from '../../verify/index.js';
import type { Compression } from './narinfo.js';
import { ZstdFrameError, ZstdFrameScanner } from './zstd-frames.js';

// unbzip2-stream is CommonJS with no ESM entry.
const unbzip2 = createRequire(import.meta.url)('unbzip2-stream') as () => NodeJS.ReadWriteStream;

/**
 * Input is handed to the decoders in pieces of at most this size, so one write cannot
 * expand into more than a bounded burst of output. node:zlib's brotli stops at a full
 * buffer by itself; node-liblzma decodes each write to its end, and LZMA expands at most
 * about 7000-fold (a 273-byte match in a few bits), so xz gets 4 KiB pieces (under 30 MiB
 * each); unbzip2-stream emits one bzip2 block at a time (at most about 46 MB).
 */
const PIECE: Record<string, number> = { xz: 4 * 1024, br: 16 * 1024, bzip2: 16 * 1024 };

export type DecompressReason = 'CORRUPT' | 'TRUNCATED' | 'TRAILING_DATA' | 'UNSUPPORTED' | 'TOO_LARGE';

/** A compressed NAR that does not decode. `offset`: compressed bytes read when it was found (-1 if unknown). */
export class DecompressError extends CastorError {
  readonly reason: DecompressReason;
  readonly compression: string;
  readonly offset: number;
  constructor(compression: string, reason: DecompressReason, detail: string, offset = -1, options?: { cause?: unknown }) {
    super('DECOMPRESS_FAILED', `${compression}: ${detail}${offset >= 0 ? ` (compressed byte ${offset})` : ''}`, compression, options);
    this.reason = reason;
    this.compression = compression;
    this.offset = offset;
  }
}

export interface DecompressOptions {
  /** Refuse output beyond this many bytes (TOO_LARGE), e.g. a narinfo's NarSize. */
  readonly maxOutputBytes?: number;
}

/** Counts and slices the compressed input on its way to a decoder. */
class Input {
  bytes = 0;
  constructor(private readonly source: AsyncIterable<Uint8Array>, private readonly piece: number) {}
  async *pieces(): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.source) {
      for (let at = 0; at < chunk.length; at += this.piece) {
        const piece = chunk.subarray(at, Math.min(at + this.piece, chunk.length));
        this.bytes += piece.length;
        yield piece;
      }
    }
  }
}

/**
 * The uncompressed bytes of `input` compressed with `compression`. Streams: input is read
 * only as fast as the result is consumed. Throws DecompressError (or the input's own error).
 */
export async function* decompress(
  compression: Compression, input: AsyncIterable<Uint8Array>, options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const max = options.maxOutputBytes ?? Number.MAX_SAFE_INTEGER;
  let out = 0;
  const inner = compression === 'none' ? passThrough(input)
    : compression === 'zstd' ? zstd(input)
      : viaTransform(compression, input);
  for await (const chunk of inner) {
    out += chunk.length;
    if (out > max) throw new DecompressError(compression, 'TOO_LARGE', `more than ${max} bytes of output`);
    yield chunk;
  }
}

async function* passThrough(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* input;
}

/** A decoder's writable side and its output as a streams3 Readable (unbzip2-stream is an old-style stream). */
function makeDecoder(compression: Exclude<Compression, 'none' | 'zstd'>): { input: NodeJS.WritableStream & { destroy(err?: Error): void }; output: Readable; decoded?: () => number } {
  switch (compression) {
    case 'xz': {
      const t = createUnxz() as unknown as Transform;
      return { input: t, output: t };
    }
    case 'br': {
      const t = createBrotliDecompress();
      return { input: t, output: t };
    }
    case 'bzip2': {
      const t = unbzip2() as unknown as NodeJS.ReadWriteStream & { destroy(err?: Error): void };
      let decoded = 0;
      t.on('data', (chunk: Buffer) => { decoded += chunk.length; });
      return { input: t, output: fromOldStream(t), decoded: () => decoded };
    }
    default: throw new DecompressError(String(compression), 'UNSUPPORTED', 'unknown compression');
  }
}

/** xz, br and bzip2 through their Node stream decoders, with the checks each one lacks. */
async function* viaTransform(compression: Exclude<Compression, 'none' | 'zstd'>, input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const source = new Input(input, PIECE[compression]!);
  const xzTail = new TailKeeper(XZ_FOOTER);
  let sourceError: unknown;
  const counted = (async function* () {
    try {
      for await (const piece of source.pieces()) {
        if (compression === 'xz') xzTail.add(piece);
        yield piece;
      }
    } catch (err: unknown) {
      sourceError = err;
      throw err;
    }
  })();
  const decoder = makeDecoder(compression);
  const readable = Readable.from(counted, { objectMode: false });
  readable.on('error', (err) => decoder.output.destroy(err));
  readable.pipe(decoder.input);
  let produced = 0;
  try {
    for await (const chunk of decoder.output as AsyncIterable<Buffer>) {
      produced += chunk.length;
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    }
  } catch (err: unknown) {
    if (sourceError !== undefined) throw sourceError;
    throw decoderError(compression, err, source.bytes, (decoder.decoded?.() ?? produced) > 0);
  } finally {
    readable.destroy();
    decoder.output.destroy();
    if ((decoder.input as unknown) !== decoder.output) decoder.input.destroy();
  }
  if (source.bytes === 0) throw new DecompressError(compression, 'TRUNCATED', 'empty input', 0);
  if (compression === 'xz' && !xzTail.isXzFooter()) {
    // liblzma, as node-liblzma drives it, ends quietly on a cut stream: the footer tells.
    throw new DecompressError(compression, 'TRUNCATED', 'input does not end with an xz stream footer', source.bytes);
  }
  if (compression === 'br') {
    const consumed = (decoder.input as unknown as { bytesWritten: number }).bytesWritten;
    // Node's brotli decoder stops at the end of the stream and drops what follows.
    if (consumed < source.bytes) throw new DecompressError(compression, 'TRAILING_DATA', `${source.bytes - consumed} bytes after the end of the stream`, consumed);
  }
}

/**
 * A streams3 Readable over an old-style stream: paused while the reader is behind. Not
 * Readable.wrap, which destroys itself on the old stream's 'close' and so loses the data
 * still buffered (unbzip2-stream closes right after its 'end').
 */
function fromOldStream(old: NodeJS.ReadWriteStream): Readable {
  const out = new Readable({
    highWaterMark: 1 << 16,
    read() { old.resume(); },
  });
  old.on('data', (chunk: Buffer) => { if (!out.push(chunk)) old.pause(); });
  old.on('end', () => out.push(null));
  old.on('error', (err: Error) => out.destroy(err));
  return out;
}

function decoderError(compression: string, err: unknown, offset: number, decodedSome: boolean): DecompressError {
  if (err instanceof DecompressError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const truncated = code === 'Z_BUF_ERROR' || /unexpected end|no progress/iu.test(message)
    // unbzip2-stream fails on a cut stream by reading past its buffer.
    || (compression === 'bzip2' && err instanceof TypeError);
  // unbzip2-stream looks for another stream after each one: no magic there is trailing data.
  const trailing = decodedSome && /magic number|trailing/iu.test(message);
  const reason: DecompressReason = truncated ? 'TRUNCATED' : trailing ? 'TRAILING_DATA' : 'CORRUPT';
  const detail = reason === 'TRUNCATED' ? `input ends inside the stream (${message})` : reason === 'CORRUPT' ? `corrupt data (${message})` : message;
  return new DecompressError(compression, reason, detail, offset, { cause: err });
}

/** zstd through fzstd, fed one block at a time behind a frame scanner that caps the window. */
async function* zstd(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const scanner = new ZstdFrameScanner();
  let ready: Uint8Array[] = [];
  const decoder = new ZstdDecompress((chunk) => { ready.push(chunk); });
  const push = (piece: Uint8Array, final: boolean): void => {
    try {
      decoder.push(piece, final);
    } catch (err: unknown) {
      const message = err instanceof Error ? err.message : String(err);
      const truncated = /unexpected EOF/iu.test(message);
      throw new DecompressError('zstd', truncated ? 'TRUNCATED' : 'CORRUPT', message, scanner.offset, { cause: err });
    }
  };
  let total = 0;
  for await (const chunk of input) {
    total += chunk.length;
    let cuts: number[];
    try {
      cuts = scanner.scan(chunk);
    } catch (err: unknown) {
      if (err instanceof ZstdFrameError) {
        const reason = err.reason === 'WINDOW_TOO_LARGE' ? 'UNSUPPORTED' : err.reason;
        throw new DecompressError('zstd', reason, err.message, err.offset, { cause: err });
      }
      throw err;
    }
    let at = 0;
    for (const cut of [...cuts, chunk.length]) {
      if (cut > at) push(chunk.subarray(at, cut), false);
      at = cut;
      if (ready.length > 0) {
        const out = ready;
        ready = [];
        // fzstd hands out views of its window buffer, which the next block overwrites.
        for (const block of out) yield block.slice();
      }
    }
  }
  if (total === 0) throw new DecompressError('zstd', 'TRUNCATED', 'empty input', 0);
  if (!scanner.atFrameEnd) throw new DecompressError('zstd', 'TRUNCATED', 'input ends inside a frame', total);
  push(new Uint8Array(0), true);
  for (const block of ready) yield block.slice();
}

const XZ_FOOTER = 12;
const XZ_FOOTER_MAGIC = [0x59, 0x5a]; // "YZ"

/** The last `n` bytes of a stream. */
class TailKeeper {
  #tail = new Uint8Array(0);
  constructor(private readonly n: number) {}
  add(piece: Uint8Array): void {
    const joined = new Uint8Array(Math.min(this.n, this.#tail.length + piece.length));
    const fromPiece = Math.min(piece.length, joined.length);
    const fromTail = joined.length - fromPiece;
    joined.set(this.#tail.subarray(this.#tail.length - fromTail), 0);
    joined.set(piece.subarray(piece.length - fromPiece), fromTail);
    this.#tail = joined;
  }
  /** An xz stream footer: CRC32 of backward size and flags, then those, then "YZ". */
  isXzFooter(): boolean {
    const t = this.#tail;
    if (t.length !== XZ_FOOTER || t[10] !== XZ_FOOTER_MAGIC[0] || t[11] !== XZ_FOOTER_MAGIC[1]) return false;
    const stored = (t[0]! | (t[1]! << 8) | (t[2]! << 16) | (t[3]! << 24)) >>> 0;
    return crc32(t.subarray(4, 10)) === stored;
  }
}

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
