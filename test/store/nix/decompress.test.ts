// Compressed NARs: files made by the real xz, zstd and bzip2 tools (and node:zlib's brotli)
// decode to the original in any input chunking; cut, corrupt or over-long input is a typed
// DecompressError; the decoders pull input only as output is consumed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { type Compression, decompress, DecompressError, MAX_ZSTD_WINDOW } from '../../../src/store/nix/index.js';

const TOOLS: Record<string, [string, string[]] | undefined> = {
  xz: ['xz', ['-6', '-c']], zstd: ['zstd', ['-q', '-c']], bzip2: ['bzip2', ['-c']], br: undefined, none: undefined,
};
const have = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;

/** 1.5 MiB: pseudo-random bytes, zeros and text-like runs, so every coder has work of each kind. */
function material(): Buffer {
  const parts: Buffer[] = [];
  let x = 12345;
  const rnd = Buffer.alloc(512 << 10);
  for (let i = 0; i < rnd.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; rnd[i] = x >>> 24; }
  parts.push(rnd, Buffer.alloc(512 << 10), Buffer.from('nix-archive-1 castor store path '.repeat(16384)));
  return Buffer.concat(parts);
}

async function* chunks(buf: Uint8Array, sizes: number[], counter?: { pulled: number }): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let at = 0; at < buf.length; i++) {
    const n = sizes[i % sizes.length]!;
    const piece = buf.subarray(at, at + n);
    at += piece.length;
    if (counter) counter.pulled += piece.length;
    yield piece;
  }
}

async function decodeAll(c: Compression, input: AsyncIterable<Uint8Array>, max?: number): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const piece of decompress(c, input, max === undefined ? {} : { maxOutputBytes: max })) out.push(Buffer.from(piece));
  return Buffer.concat(out);
}

async function refused(c: Compression, bytes: Uint8Array, reasons: string[]): Promise<void> {
  await assert.rejects(decodeAll(c, chunks(bytes, [65536, 7])), (err: unknown) => {
    assert.ok(err instanceof DecompressError, String(err));
    assert.equal(err.code, 'DECOMPRESS_FAILED');
    assert.equal(err.compression, c);
    assert.ok(reasons.includes(err.reason), `${c}: ${err.reason} not in ${reasons.join('|')}: ${err.message}`);
    return true;
  });
}

describe('decompress', () => {
  let tmp: string;
  const original = material();
  const files = new Map<Compression, Buffer>();

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-decompress-'));
    const src = path.join(tmp, 'src');
    await writeFile(src, original);
    for (const c of ['xz', 'zstd', 'bzip2'] as const) {
      const [tool, args] = TOOLS[c]!;
      if (!have(tool)) continue;
      const r = spawnSync(tool, [...args, src], { maxBuffer: 64 << 20 });
      assert.equal(r.status, 0, `${tool} failed`);
      files.set(c, r.stdout);
    }
    files.set('br', brotliCompressSync(original));
    files.set('none', original);
  });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });

  for (const c of ['xz', 'zstd', 'bzip2', 'br', 'none'] as const) {
    const tool = TOOLS[c]?.[0];
    const skip = tool !== undefined && !have(tool) ? `${tool} is not installed (apt-get install ${tool === 'xz' ? 'xz-utils' : tool})` : false;

    it(`${c}: decodes a file the real tool made, whatever the input chunking`, { skip }, async () => {
      const file = files.get(c)!;
      const want = createHash('sha256').update(original).digest('hex');
      // unbzip2-stream decodes about 2 MB/s: fewer rounds for it.
      const rounds = c === 'bzip2' ? [[65536], [1, 4093, 17]] : [[1 << 20], [65536], [1, 4093, 17], [3]];
      for (const sizes of rounds) {
        if (sizes[0] === 3 && file.length > 1 << 20) continue;
        const got = await decodeAll(c, chunks(file, sizes));
        assert.equal(got.length, original.length, `${c} chunked ${sizes.join(',')}`);
        assert.equal(createHash('sha256').update(got).digest('hex'), want);
      }
    });

    it(`${c}: decodes a few bytes handed over in one chunk`, { skip }, async () => {
      // unbzip2-stream closes right after its end: a small stream must not be lost to that.
      const text = Buffer.from('hello world\n');
      const small = c === 'br' ? brotliCompressSync(text) : c === 'none' ? text : spawnSync(TOOLS[c]![0], ['-c'], { input: text }).stdout;
      assert.deepEqual(await decodeAll(c, chunks(small, [small.length])), text);
    });

    if (c === 'none') continue;

    it(`${c}: cut, corrupt, padded or empty input is a typed error`, { skip }, async () => {
      const file = files.get(c)!;
      await refused(c, file.subarray(0, file.length - 1), ['TRUNCATED']);
      await refused(c, file.subarray(0, Math.floor(file.length / 2)), ['TRUNCATED', 'CORRUPT']);
      await refused(c, file.subarray(0, 6), ['TRUNCATED', 'CORRUPT']);
      await refused(c, new Uint8Array(0), ['TRUNCATED']);
      await refused(c, Buffer.concat([file, Buffer.from('trailing garbage')]), ['TRAILING_DATA', 'CORRUPT']);
      const badMagic = Buffer.from(file);
      badMagic[0] ^= 0xff;
      await refused(c, badMagic, ['CORRUPT', 'TRUNCATED']);
      if (c === 'xz' || c === 'bzip2') {
        // Only xz and bzip2 check their data (CRCs). brotli has no checksum and fzstd skips
        // zstd's: a flipped data byte there is caught by the NAR's sha256 (NarHash), not here.
        const corrupt = Buffer.from(file);
        corrupt[Math.floor(file.length / 3)] ^= 0x55;
        await refused(c, corrupt, ['CORRUPT', 'TRUNCATED']);
      }
    });

    it(`${c}: refuses output beyond maxOutputBytes`, { skip }, async () => {
      await assert.rejects(decodeAll(c, chunks(files.get(c)!, [65536]), original.length - 1), (err: unknown) =>
        err instanceof DecompressError && err.reason === 'TOO_LARGE');
      assert.equal((await decodeAll(c, chunks(files.get(c)!, [65536]), original.length)).length, original.length);
    });

    it(`${c}: reads input only as output is taken`, { skip }, async () => {
      // bzip2 -9 (Nix's level) needs a 900 kB block before the first byte comes out: -1's 100 kB blocks here.
      const compressed = c === 'bzip2' ? spawnSync('bzip2', ['-1', '-c'], { input: original, maxBuffer: 64 << 20 }).stdout : files.get(c)!;
      const counter = { pulled: 0 };
      const it = decompress(c, chunks(compressed, [65536], counter))[Symbol.asyncIterator]();
      assert.equal((await it.next()).done, false);
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.ok(counter.pulled < compressed.length / 2, `${c}: pulled ${counter.pulled} of ${compressed.length} compressed bytes for one output chunk`);
      await it.return?.(undefined);
    });
  }

  it('zstd: refuses a frame whose window is larger than castor decodes, before decoding it', async () => {
    // Magic, descriptor (no single segment, no content size), window descriptor 2^24.
    const frame = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, (24 - 10) << 3, 0x01, 0x00, 0x00]);
    assert.ok(2 ** 24 > MAX_ZSTD_WINDOW);
    await refused('zstd', frame, ['UNSUPPORTED']);
  });

  it('xz: refuses a stream cut at a block boundary (no footer), which liblzma alone lets pass', { skip: have('xz') ? false : 'xz missing' }, async () => {
    const xz = files.get('xz')!;
    await refused('xz', xz.subarray(0, xz.length - 12), ['TRUNCATED']);
    const file = await readFile(path.join(tmp, 'src'));
    assert.equal(file.length, original.length);
  });
});
