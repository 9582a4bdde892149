// Walks the frame and block structure of a zstd stream (RFC 8878) ahead of the decoder:
// refuses windows larger than castor decodes, and says where blocks end so the decoder
// can be fed one block at a time (each yields at most 128 KiB), which bounds memory.

/** Largest window accepted: zstd levels 1 to 19 (no --ultra, no --long) stay within it. */
export const MAX_ZSTD_WINDOW = 8 * 1024 * 1024;
const BLOCK_MAX = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type State = 'magic' | 'skipSize' | 'skip' | 'descriptor' | 'header' | 'blockHeader' | 'block' | 'checksum';

/** Why a zstd stream was refused before decoding. */
export class ZstdFrameError extends Error {
  constructor(readonly reason: 'CORRUPT' | 'WINDOW_TOO_LARGE' | 'UNSUPPORTED', message: string, readonly offset: number) {
    super(message);
  }
}

export class ZstdFrameScanner {
  #state: State = 'magic';
  #need = 4; // bytes the current fixed-size field still needs
  #field: number[] = [];
  #skip = 0; // bytes of a skippable frame's body or a block's body still to pass
  #descriptor = 0;
  #lastBlock = false;
  #offset = 0;

  /** True at a frame boundary: a stream may end here. */
  get atFrameEnd(): boolean {
    return this.#state === 'magic' && this.#field.length === 0;
  }

  /** Bytes scanned so far. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Scans `chunk`, the stream's next bytes; returns the offsets in it where a block or a
   * frame ends (cut there, each piece holds at most one block). Throws ZstdFrameError.
   */
  scan(chunk: Uint8Array): number[] {
    const cuts: number[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'skip' || this.#state === 'block') {
        const n = Math.min(this.#skip, chunk.length - i);
        i += n;
        this.#offset += n;
        this.#skip -= n;
        if (this.#skip === 0) {
          this.#afterBody();
          cuts.push(i);
        }
        continue;
      }
      this.#field.push(chunk[i]!);
      i++;
      this.#offset++;
      if (this.#field.length < this.#need) continue;
      const field = this.#field;
      this.#field = [];
      this.#onField(field);
      const state = this.#state as State; // #onField moved it on
      if (state === 'magic' || (state === 'block' && this.#skip === 0)) {
        if (state === 'block') this.#afterBody();
        cuts.push(i);
      }
    }
    return cuts;
  }

  #fail(reason: ZstdFrameError['reason'], message: string): never {
    throw new ZstdFrameError(reason, message, this.#offset);
  }

  #onField(f: number[]): void {
    const le = (from: number, n: number): number => {
      let v = 0;
      for (let k = n - 1; k >= 0; k--) v = v * 256 + f[from + k]!;
      return v;
    };
    switch (this.#state) {
      case 'magic': {
        const magic = le(0, 4);
        if (magic === ZSTD_MAGIC) this.#expect('descriptor', 1);
        else if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) this.#expect('skipSize', 4);
        else this.#fail('CORRUPT', 'not a zstd frame (bad magic number)');
        return;
      }
      case 'skipSize':
        this.#skip = le(0, 4);
        if (this.#skip === 0) this.#expect('magic', 4);
        else this.#state = 'skip';
        return;
      case 'descriptor': {
        const d = f[0]!;
        if (d & 0x08) this.#fail('CORRUPT', 'reserved bit set in the frame header');
        this.#descriptor = d;
        const single = (d & 0x20) !== 0;
        const fcsFlag = d >> 6;
        const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
        const dictBytes = [0, 1, 2, 4][d & 3]!;
        const rest = (single ? 0 : 1) + dictBytes + fcsBytes;
        if (rest === 0) this.#fail('CORRUPT', 'frame header with neither window nor content size');
        this.#expect('header', rest);
        return;
      }
      case 'header': {
        const d = this.#descriptor;
        const single = (d & 0x20) !== 0;
        const dictBytes = [0, 1, 2, 4][d & 3]!;
        if (dictBytes > 0 && le(single ? 0 : 1, dictBytes) !== 0) this.#fail('UNSUPPORTED', 'zstd frames that need a dictionary are not supported');
        let window: number;
        if (!single) {
          const w = f[0]!;
          const base = 2 ** (10 + (w >> 3));
          window = base + (base / 8) * (w & 7);
        } else {
          const at = dictBytes;
          const n = f.length - at;
          window = le(at, n) + (n === 2 ? 256 : 0);
        }
        if (window > MAX_ZSTD_WINDOW) this.#fail('WINDOW_TOO_LARGE', `zstd window of ${window} bytes, more than ${MAX_ZSTD_WINDOW}`);
        this.#expect('blockHeader', 3);
        return;
      }
      case 'blockHeader': {
        const h = le(0, 3);
        this.#lastBlock = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) this.#fail('CORRUPT', 'reserved block type');
        if (size > BLOCK_MAX) this.#fail('CORRUPT', `block of ${size} bytes, more than ${BLOCK_MAX}`);
        this.#skip = type === 1 ? 1 : size;
        this.#state = 'block';
        return;
      }
      case 'checksum':
        this.#expect('magic', 4);
        return;
      default:
        return;
    }
  }

  #afterBody(): void {
    if (this.#state === 'skip') this.#expect('magic', 4);
    else if (!this.#lastBlock) this.#expect('blockHeader', 3);
    else if (this.#descriptor & 0x04) this.#expect('checksum', 4);
    else this.#expect('magic', 4);
  }

  #expect(state: State, need: number): void {
    this.#state = state;
    this.#need = need;
  }
}
