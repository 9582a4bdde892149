// Slice extraction: copies, in order, exactly the nodes a decoder of the given
// ranges will read. From an outboard source with the whole range it writes the
// combined encoding, so encoding is slicing everything.

import { normalizeRanges, type ByteRange } from './ranges.js';
import { checkGroupLog, decodeLength, DEFAULT_GROUP_LOG } from './shape.js';
import type { TreeSource } from './sources.js';
import { walk } from './traverse.js';

export type Sink = (bytes: Uint8Array) => Promise<void> | void;

export async function extractSlice(source: TreeSource, ranges: readonly ByteRange[], write: Sink, groupLog = DEFAULT_GROUP_LOG): Promise<void> {
  const g = checkGroupLog(groupLog);
  const header = await source.header();
  const len = decodeLength(header);
  await write(header);
  for (const step of walk(len, g, normalizeRanges(ranges, len).select)) {
    if (step.kind === 'skip') await source.skip(step.nodeBytes, step.len);
    else if (step.kind === 'parent') await write(await source.parent());
    else await write(await source.group(step.len));
  }
}
