// The lookup table: block fences over an Index find every name with one block read,
// miss what is not there, and a damaged table is refused (so it is rebuilt, not trusted).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LookupTable, buildLookupTable, findInBlock, scanIndex } from '../../../src/store/trust/index.js';
import { enc, entries, indexOf } from './fixtures.js';

const NAMES = Array.from({ length: 700 }, (_, i) => `pkg-${String(i * 3).padStart(5, '0')}`);
const index = indexOf(entries(NAMES));
const offsets = scanIndex(index);

function find(table: LookupTable, name: string): string | undefined {
  const block = table.blockOf(enc(name));
  if (block === undefined) return undefined;
  const entry = findInBlock(index.subarray(block.start, block.end), block.first, enc(name));
  return entry === undefined ? undefined : new TextDecoder().decode(entry.name);
}

test('every name is found in its block, at any block size; names between, before and after are not', () => {
  for (const blockEntries of [1, 3, 128, 700, 1000]) {
    const table = LookupTable.parse(buildLookupTable(index, offsets, blockEntries), NAMES.length, index.length)!;
    assert.ok(table, `block size ${blockEntries}`);
    for (const name of NAMES) assert.equal(find(table, name), name);
    for (const missing of ['a', 'pkg-', 'pkg-00001', 'pkg-02098', 'pkg-02100', 'zzz', 'pkg-00000\u0000']) assert.equal(find(table, missing), undefined, missing);
  }
  const empty = scanIndex(new Uint8Array(0));
  const none = LookupTable.parse(buildLookupTable(new Uint8Array(0), empty), 0, 0)!;
  assert.equal(none.blockOf(enc('x')), undefined);
});

test('a table that does not fit its index does not parse', () => {
  const bytes = buildLookupTable(index, offsets);
  assert.equal(LookupTable.parse(bytes, NAMES.length + 1, index.length), undefined, 'other entry count');
  assert.equal(LookupTable.parse(bytes, NAMES.length, index.length - 1), undefined, 'other index size');
  assert.equal(LookupTable.parse(bytes.subarray(0, bytes.length - 1), NAMES.length, index.length), undefined, 'truncated');
  assert.equal(LookupTable.parse(Uint8Array.from([...bytes, 0]), NAMES.length, index.length), undefined, 'trailing byte');
  assert.equal(LookupTable.parse(new Uint8Array(3), 0, 0), undefined);
});
