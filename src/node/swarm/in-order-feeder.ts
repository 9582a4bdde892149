// Feeds a blob's verified content to a store writer in order while a download from
// several peers at once is under way, so the blob is stored as it arrives instead of
// being read back from the partial afterwards.
//
// The store writer takes bytes only in order; units from several lanes arrive out of
// order. Verified pieces ahead of the writer are kept in memory (copied: the decoder
// reuses its buffers) up to STASH_BYTES; past that they are only in the partial, and one
// pump catches up from it (the partial verifies them again as it reads) once the groups
// before them are written there. The pump is one task, so store writes keep their order.

import type { BlobWriter } from '../../store/index.js';
import type { DataDir } from '../../store/index.js';
import type { Digest } from '../../store/index.js';
import type { PartialBlob } from '../../store/index.js';
import { Pipeline } from '../pipeline.js';

/** Content held in memory ahead of the store writer. */
const STASH_BYTES = 16 << 20;
/** Store writes in flight. */
const WRITES_IN_FLIGHT = 4;
/** Largest read from the partial at once when catching up. */
const CATCH_UP_BYTES = 4 << 20;

export class InOrderFeeder {
  readonly #partial: PartialBlob;
  readonly #writer: BlobWriter;
  readonly #writes = new Pipeline(WRITES_IN_FLIGHT);
  readonly #stash = new Map<number, Uint8Array>();
  #stashBytes = 0;
  #pos = 0;
  #wake: (() => void) | undefined;
  #stopped = false;
  #aborted = false;
  /** The pump waits for bytes: an in-order offer may write directly. */
  #idle = false;
  readonly #pump: Promise<void>;
  /** Bytes read back from the partial because they were not in memory (for the benchmark's curiosity). */
  readBack = 0;

  constructor(partial: PartialBlob, data: DataDir) {
    this.#partial = partial;
    // Everything it is given was released by a verifying decoder (or read back from the
    // partial, which verifies again): the store takes the digest and outboard from the
    // partial's verified outboard instead of hashing the blob once more.
    this.#writer = data.blobs.openWriter({ verified: partial.tree });
    this.#pump = this.#run();
    // Awaited in finish(); until then a failure must not count as unhandled.
    this.#pump.catch(() => undefined);
  }

  /**
   * Verified `bytes` at content `offset`, about to be written to the partial. Bytes that
   * come exactly in order while the pump has nothing else to do go straight to the
   * writer (no copy; the caller waits for the writer, which is the backpressure a single
   * ordered stream wants); others are kept aside (copied unless `owned`: a buffer no one
   * else will change), or left to the partial. Resolves to whether the feeder is done
   * with `bytes` (false: it keeps them aside for now).
   */
  async offer(offset: number, bytes: Uint8Array, owned = false): Promise<boolean> {
    if (this.#stopped || offset < this.#pos) return true;
    if (offset === this.#pos && this.#idle) {
      this.#pos += bytes.length;
      const w = this.#writer.write(bytes);
      await this.#writes.add(w);
      await w;
      this.poke();
      return true;
    }
    if (this.#stashBytes + bytes.length > STASH_BYTES) {
      this.poke();
      return true;
    }
    this.#stash.set(offset, owned ? bytes : bytes.slice());
    this.#stashBytes += bytes.length;
    this.poke();
    return !owned;
  }

  /** Something changed (a partial write landed): the pump may go on. */
  poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #run(): Promise<void> {
    const partial = this.#partial;
    const size = partial.size;
    const gb = partial.groupBytes;
    while (this.#pos < size && !this.#stopped) {
      const piece = this.#stash.get(this.#pos);
      if (piece !== undefined) {
        this.#stash.delete(this.#pos);
        this.#stashBytes -= piece.length;
        await this.#writes.add(this.#writer.write(piece));
        this.#pos += piece.length;
        continue;
      }
      let end = this.#pos;
      const limit = Math.min(size, this.#pos + CATCH_UP_BYTES, this.#nextStashed());
      while (end < limit && partial.has(Math.floor(end / gb))) end = Math.min(size, (Math.floor(end / gb) + 1) * gb);
      end = Math.min(end, limit);
      if (end > this.#pos) {
        for await (const p of partial.read({ start: this.#pos, end })) await this.#writes.add(this.#writer.write(p));
        this.readBack += end - this.#pos;
        this.#pos = end;
        continue;
      }
      this.#idle = true;
      await new Promise<void>((resolve) => { this.#wake = resolve; });
      this.#idle = false;
    }
  }

  /** The smallest stashed offset after the writer's position (a catch-up read stops there). */
  #nextStashed(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const k of this.#stash.keys()) if (k > this.#pos && k < min) min = k;
    return min;
  }

  /** Once the partial holds everything: the rest written, the blob published; resolves to its digest. */
  async finish(): Promise<Digest> {
    this.poke();
    try {
      await this.#pump;
      await this.#writes.drain();
      return await this.#writer.close();
    } catch (err: unknown) {
      await this.abort();
      throw err;
    }
  }

  /** Stops and discards what the writer staged. */
  async abort(): Promise<void> {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#stopped = true;
    this.poke();
    await this.#pump.catch(() => undefined);
    await this.#writes.settle();
    this.#stash.clear();
    this.#stashBytes = 0;
    await this.#writer.abort();
  }
}
