// Child process for the FsBlobService crash, concurrency and disk-error tests: does what its
// arguments say to a data dir and reports on stdout, one line per event. With no arguments
// (as when `node --test` runs every file under test/) it does nothing.

import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '../../../src/verify/blake3/index.js';
import type { BlobService, Digest } from '../../../src/store/blob-service.js';
import { FsBlobService } from '../../../src/store/disk/fs-blob-service.js';
import { collect, overlappingBlobs, randomBytes, SMALL_CHUNKS } from '../blob-data.js';

const PIECE = 65536;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function putAll(s: BlobService, data: Uint8Array): Promise<Digest> {
  const w = s.openWriter();
  for (let pos = 0; pos < data.length; pos += PIECE) await w.write(data.subarray(pos, pos + PIECE));
  return w.close();
}

async function failureOf(op: () => Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await op();
    return {};
  } catch (err: unknown) {
    const e = err as { code?: string; message?: string };
    return { code: e.code, message: e.message };
  }
}

async function readsBack(s: BlobService, d: Digest, data: Uint8Array): Promise<boolean> {
  const stream = await s.read(d);
  return stream !== undefined && Buffer.from(await collect(stream)).equals(Buffer.from(data));
}

async function main(mode: string, dir: string, args: string[]): Promise<void> {
  switch (mode) {
    case 'slow': {
      // Slow enough that the parent can kill it mid-write; reports progress every MiB.
      const data = randomBytes(Number(args[0]), Number(args[1]));
      const w = (await FsBlobService.open(dir)).openWriter();
      for (let pos = 0; pos < data.length; pos += PIECE) {
        await w.write(data.subarray(pos, pos + PIECE));
        if ((pos + PIECE) % (1 << 20) === 0) say(`wrote ${pos + PIECE}`);
        await sleep(1);
      }
      say('closing');
      say(`closed ${toHex(await w.close())}`);
      return;
    }
    case 'overlap': {
      const s = await FsBlobService.open(dir, { chunker: SMALL_CHUNKS });
      for (const blob of overlappingBlobs(Number(args[0]))) say(toHex(await putAll(s, blob)));
      return;
    }
    case 'fill': {
      // On a small tmpfs: a blob that fits, then one that cannot.
      const s = await FsBlobService.open(dir);
      const small = randomBytes(200_000, 5);
      const d = await putAll(s, small);
      const failure = await failureOf(() => putAll(s, randomBytes(3 << 20, 6)));
      say(JSON.stringify({ ...failure, tmp: await readdir(s.layout.tmp), smallReads: await readsBack(s, d, small) }));
      return;
    }
    case 'put': {
      // put DIR SIZE SEED: a blob of SIZE random bytes (small chunks), not durable; its digest.
      const s = await FsBlobService.open(dir, { chunker: SMALL_CHUNKS, durable: false });
      say(toHex(await putAll(s, randomBytes(Number(args[0]), Number(args[1])))));
      return;
    }
    case 'populate': {
      await putAll(await FsBlobService.open(dir), randomBytes(300_000, 7));
      return;
    }
    case 'read-only': {
      // After the parent's shell remounted the dir read-only.
      const s = await FsBlobService.open(dir);
      const data = randomBytes(300_000, 7);
      const ok = await readsBack(s, await putDigest(data), data);
      const failure = await failureOf(() => putAll(s, randomBytes(1000, 8)));
      say(JSON.stringify({ ...failure, ok }));
      return;
    }
    case 'read-only-empty': {
      const s = await FsBlobService.open(dir);
      const has = await s.has(await putDigest(randomBytes(10, 9)));
      const failure = await failureOf(() => putAll(s, randomBytes(1000, 8)));
      say(JSON.stringify({ ...failure, has }));
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

/** The digest `data` will have, from a store in memory (no writes to the read-only dir). */
async function putDigest(data: Uint8Array): Promise<Digest> {
  const { MemoryBlobService } = await import('../../../src/store/blobs/memory-blob-service.js');
  return putAll(new MemoryBlobService(), data);
}

const [mode, dir, ...rest] = process.argv.slice(2);
if (mode !== undefined && dir !== undefined) await main(mode, dir, rest);
