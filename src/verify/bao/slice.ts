// Slice extraction: copies, in order, exactly the nodes a decoder of the given
// ranges will read. From an outboard source with the whole range it writes the
// combined encoding, so encoding is slicing everything.

import { normalizeRanges, type ByteRange } from './ranges.js';
import { checkGroupLog, decodeLength, DEFAULT_GROUP_LOG } from './shape.js';
import type { TreeSource } from './sources.js';
import { walk } from './traverse.js';

export type Sink = (bytes: Uint8Array) => Promise<void> | void;

const OUT_BLOCK = 1 << 20;

/**
 * Gathers the many small pieces of a slice (64-byte parents, group-sized data)
 * into 1 MiB blocks: one write per megabyte instead of one per node.
 */
class BlockWriter {
  private block = new Uint8Array(OUT_BLOCK);
  private fill = 0;
  constructor(private readonly sink: Sink) {}

  async put(bytes: Uint8Array): Promise<void> {
    if (this.fill + bytes.length > OUT_BLOCK) await this.flush();
    if (bytes.length >= OUT_BLOCK) {
      await this.sink(bytes);
      return;
    }
    this.block.set(bytes, this.fill);
    this.fill += bytes.length;
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const out = this.block.subarray(0, this.fill);
    // The sink may keep what it was given; the next block is a new buffer.
    this.block = new Uint8Array(OUT_BLOCK);
    this.fill = 0;
    await this.sink(out);
  }
}

export async function extractSlice(source: TreeSource, ranges: readonly ByteRange[], write: Sink, groupLog = DEFAULT_GROUP_LOG): Promise<void> {
  const g = checkGroupLog(groupLog);
  const header = await source.header();
  const len = decodeLength(header);
  const out = new BlockWriter(write);
  await out.put(header);
  for (const step of walk(len, g, normalizeRanges(ranges, len).select)) {
    if (step.kind === 'skip') await source.skip(step.nodeBytes, step.len);
    else if (step.kind === 'parent') await out.put(source.parentNow() ?? (await source.parent()));
    else await out.put(source.groupNow(step.len) ?? (await source.group(step.len)));
  }
  await out.flush();
}
