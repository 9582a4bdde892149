// Where a bao walk's nodes come from: a combined encoding (nodes and data
// interleaved), an outboard beside the data, or a slice (only the nodes the
// walk needs, so skipping costs nothing).

import type { ByteReader } from './readers.js';
import { HEADER_LEN, PARENT_LEN } from './shape.js';

export interface TreeSource {
  header(): Promise<Uint8Array>;
  parent(): Promise<Uint8Array>;
  group(len: number): Promise<Uint8Array>;
  /** The next parent or group if already buffered, else null (the caller then awaits parent()/group()). */
  parentNow(): Uint8Array | null;
  groupNow(len: number): Uint8Array | null;
  skip(nodeBytes: number, dataBytes: number): Promise<void>;
  /** Where the next parent starts, in the stream errors should name. */
  parentOffset(): number;
  /** Where the next group starts. */
  groupOffset(): number;
}

/** Nodes and data interleaved in one stream: a combined encoding, or a slice when `sliced`. */
export class CombinedSource implements TreeSource {
  constructor(private readonly r: ByteReader, private readonly sliced = false) {}
  header(): Promise<Uint8Array> { return this.r.read(HEADER_LEN); }
  parent(): Promise<Uint8Array> { return this.r.read(PARENT_LEN); }
  group(len: number): Promise<Uint8Array> { return this.r.read(len); }
  parentNow(): Uint8Array | null { return this.r.readNow?.(PARENT_LEN) ?? null; }
  groupNow(len: number): Uint8Array | null { return this.r.readNow?.(len) ?? null; }
  async skip(nodeBytes: number, dataBytes: number): Promise<void> {
    if (!this.sliced) await this.r.skip(nodeBytes + dataBytes);
  }
  parentOffset(): number { return this.r.position; }
  groupOffset(): number { return this.r.position; }
}

export function sliceSource(r: ByteReader): TreeSource {
  return new CombinedSource(r, true);
}

/** Header and parents from an outboard, groups from the content. */
export class OutboardSource implements TreeSource {
  constructor(private readonly outboard: ByteReader, private readonly data: ByteReader) {}
  header(): Promise<Uint8Array> { return this.outboard.read(HEADER_LEN); }
  parent(): Promise<Uint8Array> { return this.outboard.read(PARENT_LEN); }
  group(len: number): Promise<Uint8Array> { return this.data.read(len); }
  parentNow(): Uint8Array | null { return this.outboard.readNow?.(PARENT_LEN) ?? null; }
  groupNow(len: number): Uint8Array | null { return this.data.readNow?.(len) ?? null; }
  async skip(nodeBytes: number, dataBytes: number): Promise<void> {
    await this.outboard.skip(nodeBytes);
    await this.data.skip(dataBytes);
  }
  parentOffset(): number { return this.outboard.position; }
  groupOffset(): number { return this.data.position; }
}
