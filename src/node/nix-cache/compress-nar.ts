// A NAR compressed on the fly for the names a client may ask by: the URL `nix copy --to`
// uploaded under (`nar/<FileHash>.nar.xz`...), which that client keeps in its narinfo
// cache for weeks. Nix 2.8 checks only the NarHash of what it decompresses, never the
// FileHash, so any valid stream of the right format serves: xz at preset 0 and brotli at
// quality 1 (fast), zstd as raw blocks (no zstd encoder ships with Node 20). bzip2 has
// no encoder here.

import { Readable, type Transform } from 'node:stream';
import { constants, createBrotliCompress } from 'node:zlib';
import { createXz } from 'node-liblzma';
import type { Compression } from '../../store/index.js';

/** The compressions a NAR can be served in. */
export function canServe(compression: Compression): boolean {
  return compression !== 'bzip2';
}

/** `nar` compressed with `compression` (which canServe), pulled as the consumer reads. */
export function compressNar(compression: Compression, nar: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  switch (compression) {
    case 'none': return nar;
    case 'zstd': return zstdRawFrame(nar);
    case 'xz': return through(createXz({ preset: 0 }) as unknown as Transform, nar);
    case 'br': return through(createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 1 } }), nar);
    default: throw new RangeError(`cannot compress to ${compression}`);
  }
}

async function* through(t: Transform, input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const source = Readable.from(input, { objectMode: false });
  source.on('error', (err) => t.destroy(err));
  source.pipe(t);
  try {
    for await (const chunk of t as AsyncIterable<Buffer>) yield chunk;
  } finally {
    source.destroy();
    t.destroy();
  }
}

/** A zstd block holds at most 128 KiB (and at most the window, declared as 128 KiB below). */
const ZSTD_BLOCK = 128 * 1024;
/** Magic 0xFD2FB528, then a descriptor with no content size, single segment, checksum or dictionary, then window 2^17. */
const ZSTD_FRAME_HEADER = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3]);

/** A zstd frame of raw (stored) blocks: valid for every decoder, no smaller than its input. */
async function* zstdRawFrame(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield ZSTD_FRAME_HEADER;
  let pending = new Uint8Array(0);
  // A block is emitted only once more input follows it, so the last one can be flagged.
  for await (const chunk of input) {
    const joined = new Uint8Array(pending.length + chunk.length);
    joined.set(pending, 0);
    joined.set(chunk, pending.length);
    let at = 0;
    while (joined.length - at > ZSTD_BLOCK) {
      yield rawBlock(joined.subarray(at, at + ZSTD_BLOCK), false);
      at += ZSTD_BLOCK;
    }
    pending = joined.slice(at);
  }
  yield rawBlock(pending, true);
}

function rawBlock(data: Uint8Array, last: boolean): Uint8Array {
  const out = new Uint8Array(3 + data.length);
  const header = (data.length << 3) | (last ? 1 : 0); // block type 0 (raw) in bits 1-2
  out[0] = header & 0xff;
  out[1] = (header >> 8) & 0xff;
  out[2] = (header >> 16) & 0xff;
  out.set(data, 3);
  return out;
}
