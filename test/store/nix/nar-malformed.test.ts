// Strict NAR parsing: every way a NAR can break the format is refused with NAR_MALFORMED,
// the rule it broke and the byte offset where the offending item starts, whatever the
// chunking; ingest then rejects and reports no root.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBlobService } from '../../../src/store/blobs/index.js';
import { MemoryDirectoryService } from '../../../src/store/directories/index.js';
import { ingestNar, MAX_NAR_DEPTH, NarFormatError, readNar, renderNar, type NarFormatReason } from '../../../src/store/nix/index.js';
import { arbChunking, arbNarTree, cat, chunked, collect, dir, file, link, narOf, nodeTokens, str, u64 } from './nar-fixture.js';

const MAGIC = str('nix-archive-1');
/** The bytes of a directory root up to the first entry's name. */
const DIR_TO_NAME = cat(MAGIC, '(', 'type', 'directory', 'entry', '(', 'name');
/** A whole entry `name` holding a small file. */
const entry = (name: string | Uint8Array): Uint8Array => cat('entry', '(', 'name', str(name), 'node', ...nodeTokens(file('x')), ')');

interface Case {
  readonly what: string;
  readonly nar: Uint8Array;
  readonly reason: NarFormatReason;
  readonly offset: number;
}

const cases: Case[] = [];
const add = (what: string, nar: Uint8Array, reason: NarFormatReason, offset: number): void => { cases.push({ what, nar, reason, offset }); };

// Magic.
add('no input at all', new Uint8Array(0), 'TRUNCATED', 0);
add('a wrong magic', cat('nix-archive-2', ...nodeTokens(file(''))), 'BAD_MAGIC', 0);
add('a magic of absurd length', cat(u64(1n << 40n), 'nix-archive-1'), 'BAD_MAGIC', 0);
add('a magic with a huge u64 length', cat(u64((1n << 64n) - 1n)), 'BAD_MAGIC', 0);

// Truncation, and lengths beyond what follows.
{
  const whole = narOf(file('hello world'));
  const contentsAt = cat(MAGIC, '(', 'type', 'regular', 'contents').length;
  add('a file cut inside its contents', whole.subarray(0, contentsAt + 8 + 5), 'TRUNCATED', contentsAt);
  add('a file cut before its closing ")"', whole.subarray(0, whole.length - 16), 'TRUNCATED', whole.length - 16);
  add('a file cut inside the length of its closing ")"', whole.subarray(0, whole.length - 12), 'TRUNCATED', whole.length - 16);
  add('a contents length beyond what follows', cat(MAGIC, '(', 'type', 'regular', 'contents', u64(1000), 'only this', ')'), 'TRUNCATED', contentsAt);
  add('a name length beyond what follows', cat(DIR_TO_NAME, u64(200), 'abc'), 'TRUNCATED', DIR_TO_NAME.length);
  const d = narOf(dir({ a: file('x') }));
  add('a directory without its closing ")"', d.subarray(0, d.length - 16), 'TRUNCATED', d.length - 16);
}

// Padding.
{
  const contentsAt = cat(MAGIC, '(', 'type', 'regular', 'contents').length;
  add('non-zero padding after contents', cat(MAGIC, '(', 'type', 'regular', 'contents', str('abc', 0x01), ')'), 'BAD_PADDING', contentsAt + 8 + 3);
  const pad = cat(MAGIC, '(', 'type', 'regular', 'contents', str('abcdefg'), ')');
  pad[contentsAt + 8 + 7] = 0x80;
  add('the last padding byte of contents non-zero', pad, 'BAD_PADDING', contentsAt + 8 + 7);
  add('non-zero padding after a name', cat(DIR_TO_NAME, str('a', 0x20), 'node', ...nodeTokens(file('')), ')', ')'), 'BAD_PADDING', DIR_TO_NAME.length + 9);
  add('non-zero padding after a tag', cat(MAGIC, str('(', 0xff)), 'BAD_PADDING', MAGIC.length + 9);
  add('non-zero padding after the magic', cat(str('nix-archive-1', 0x01)), 'BAD_PADDING', 8 + 13);
  const target = cat(MAGIC, '(', 'type', 'symlink', 'target');
  add('non-zero padding after a symlink target', cat(target, str('abcde', 0x07), ')'), 'BAD_PADDING', target.length + 8 + 5);
}

// Entry names: order, duplicates, invalid bytes, length.
{
  const second = cat(MAGIC, '(', 'type', 'directory', entry('b')).length;
  add('unsorted entries', cat(MAGIC, '(', 'type', 'directory', entry('b'), entry('a'), ')'), 'UNSORTED', second + cat('entry', '(', 'name').length);
  add('entries sorted as text, not as bytes', cat(MAGIC, '(', 'type', 'directory', entry(Buffer.from([0xc3, 0xa9])), entry('z'), ')'), 'UNSORTED', cat(MAGIC, '(', 'type', 'directory', entry(Buffer.from([0xc3, 0xa9]))).length + cat('entry', '(', 'name').length);
  add('a prefix after the longer name', cat(MAGIC, '(', 'type', 'directory', entry('ab'), entry('a'), ')'), 'UNSORTED', second + cat('entry', '(', 'name').length);
  add('a duplicate entry', cat(MAGIC, '(', 'type', 'directory', entry('b'), entry('b'), ')'), 'DUPLICATE_NAME', second + cat('entry', '(', 'name').length);
  for (const [what, name] of [['empty', ''], ['"."', '.'], ['".."', '..'], ['holding "/"', 'a/b'], ['holding NUL', 'a\0b'], ['only "/"', '/']] as const) {
    add(`an entry name ${what}`, cat(MAGIC, '(', 'type', 'directory', entry(name), ')'), 'INVALID_NAME', DIR_TO_NAME.length);
  }
  add('a 256-byte entry name', cat(MAGIC, '(', 'type', 'directory', entry('n'.repeat(256)), ')'), 'INVALID_NAME', DIR_TO_NAME.length);
  add('an entry name of absurd length', cat(DIR_TO_NAME, u64(1n << 50n)), 'INVALID_NAME', DIR_TO_NAME.length);
  const nested = cat(MAGIC, '(', 'type', 'directory', 'entry', '(', 'name', str('d'), 'node', '(', 'type', 'directory', entry('z'));
  add('unsorted entries in a nested directory', cat(nested, entry('y'), ')', ')', ')'), 'UNSORTED', nested.length + cat('entry', '(', 'name').length);
}

// Tags and types.
{
  add('an unknown node type', cat(MAGIC, '(', 'type', 'fifo', ')'), 'UNKNOWN_TYPE', cat(MAGIC, '(', 'type').length);
  add('a node type of absurd length', cat(MAGIC, '(', 'type', u64(1n << 40n)), 'UNKNOWN_TYPE', cat(MAGIC, '(', 'type').length);
  add('a node without "("', cat(MAGIC, 'type', 'regular'), 'UNEXPECTED_TAG', MAGIC.length);
  add('"type" misspelt', cat(MAGIC, '(', 'typ', 'regular'), 'UNEXPECTED_TAG', cat(MAGIC, '(').length);
  add('an unknown tag in a directory', cat(MAGIC, '(', 'type', 'directory', 'entri'), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'directory').length);
  add('a tag of absurd length in a directory', cat(MAGIC, '(', 'type', 'directory', u64(1n << 62n)), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'directory').length);
  add('a tag of absurd length but within 2^53', cat(MAGIC, '(', 'type', 'directory', u64(1n << 52n)), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'directory').length);
  add('"executable" with a value', cat(MAGIC, '(', 'type', 'regular', 'executable', 'yes', 'contents', str(''), ')'), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'regular', 'executable').length);
  add('"contents" before "executable"', cat(MAGIC, '(', 'type', 'regular', 'contents', str('x'), 'executable', str(''), ')'), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'regular', 'contents', str('x')).length);
  add('a file without "contents"', cat(MAGIC, '(', 'type', 'regular', ')'), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'regular').length);
  add('a symlink without "target"', cat(MAGIC, '(', 'type', 'symlink', ')'), 'UNEXPECTED_TAG', cat(MAGIC, '(', 'type', 'symlink').length);
  add('an entry without "node"', cat(DIR_TO_NAME, str('a'), '(', 'type'), 'UNEXPECTED_TAG', DIR_TO_NAME.length + 16);
  add('an entry not closed', cat(DIR_TO_NAME, str('a'), 'node', ...nodeTokens(file('')), 'entry'), 'UNEXPECTED_TAG', cat(DIR_TO_NAME, str('a'), 'node', ...nodeTokens(file(''))).length);
  add('a file size of 2^53', cat(MAGIC, '(', 'type', 'regular', 'contents', u64(1n << 53n)), 'TOO_LARGE', cat(MAGIC, '(', 'type', 'regular', 'contents').length);
}

// Symlink targets.
{
  const at = cat(MAGIC, '(', 'type', 'symlink', 'target').length;
  add('an empty symlink target', cat(MAGIC, '(', 'type', 'symlink', 'target', str(''), ')'), 'INVALID_TARGET', at);
  add('a symlink target with NUL', cat(MAGIC, '(', 'type', 'symlink', 'target', str('a\0b'), ')'), 'INVALID_TARGET', at);
  add('a 4096-byte symlink target', cat(MAGIC, '(', 'type', 'symlink', 'target', str('t'.repeat(4096)), ')'), 'INVALID_TARGET', at);
}

// The end.
{
  const whole = narOf(dir({ a: file('x'), b: link('a') }));
  add('a zero byte after the root', cat(whole, new Uint8Array(1)), 'TRAILING_BYTES', whole.length);
  add('a second NAR after the root', cat(whole, whole), 'TRAILING_BYTES', whole.length);
  const f = narOf(file('x'));
  add('a string after a file root', cat(f, ')'), 'TRAILING_BYTES', f.length);
}

// Depth.
{
  const open = cat(...Array.from({ length: MAX_NAR_DEPTH }, (_, i) => cat(i === 0 ? MAGIC : cat('entry', '(', 'name', str('d'), 'node'), '(', 'type', 'directory')));
  add(`directories nested ${MAX_NAR_DEPTH + 1} deep`, cat(open, 'entry', '(', 'name', str('d'), 'node', '(', 'type', 'directory', ')'), 'TOO_DEEP', open.length + cat('entry', '(', 'name', str('d'), 'node', '(', 'type').length);
}

async function parseAll(input: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of readNar(input)) { /* drain */ }
}

function expectFormat(c: Case, via: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof NarFormatError, `${c.what} (${via}): ${String(err)}`);
    assert.equal(err.code, 'NAR_MALFORMED');
    assert.equal(err.reason, c.reason, `${c.what} (${via}): ${err.message}`);
    assert.equal(err.offset, c.offset, `${c.what} (${via}): ${err.message}`);
    return true;
  };
}

describe('malformed NARs', () => {
  for (const c of cases) {
    it(`refuses ${c.what}: ${c.reason} at byte ${c.offset}`, async () => {
      await assert.rejects(parseAll(chunked(c.nar)), expectFormat(c, 'one chunk'));
      // Tiny chunks only where it is cheap: the deep case is 260 KB.
      const small = c.nar.length < 20_000;
      await assert.rejects(parseAll(chunked(c.nar, small ? [3, 1, 8, 13] : [3, 1000, 8, 4093])), expectFormat(c, 'odd chunks'));
      if (small) await assert.rejects(parseAll(chunked(c.nar, [1])), expectFormat(c, 'single bytes'));
      const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
      await assert.rejects(ingestNar(chunked(c.nar, small ? [7] : [4099]), store), expectFormat(c, 'ingest'));
    });
  }

  it('every proper prefix of a generated NAR is refused as TRUNCATED, at or before the cut', async () => {
    await fc.assert(fc.asyncProperty(arbNarTree(), arbChunking(), fc.double({ min: 0, max: 1, noNaN: true }), async (tree, chunks, where) => {
      const nar = narOf(tree);
      const cut = Math.min(nar.length - 1, Math.floor(where * nar.length));
      await assert.rejects(parseAll(chunked(nar.subarray(0, cut), chunks)), (err: unknown) => {
        assert.ok(err instanceof NarFormatError && err.reason === 'TRUNCATED', String(err));
        assert.ok(err.offset <= cut);
        return true;
      });
    }), { numRuns: 50 });
  });

  it('a mutated NAR is either refused as NAR_MALFORMED or is canonical: it renders back to exactly its own bytes', async () => {
    const mutation = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), kind: fc.constantFrom('flip', 'insert', 'delete', 'set'), byte: fc.integer({ min: 0, max: 255 }), len: fc.integer({ min: 1, max: 16 }) });
    await fc.assert(fc.asyncProperty(arbNarTree(), mutation, async (tree, m) => {
      const nar = narOf(tree);
      const at = Math.min(nar.length - 1, Math.floor(m.at * nar.length));
      let bad: Uint8Array;
      if (m.kind === 'flip') (bad = nar.slice())[at]! ^= 1 << (m.byte & 7);
      else if (m.kind === 'set') (bad = nar.slice())[at] = m.byte;
      else if (m.kind === 'insert') bad = cat(nar.subarray(0, at), new Uint8Array(m.len).fill(m.byte), nar.subarray(at));
      else bad = cat(nar.subarray(0, at), nar.subarray(Math.min(nar.length, at + m.len)));
      const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
      let r;
      try {
        r = await ingestNar(chunked(bad, [5, 64, 1]), store);
      } catch (err: unknown) {
        assert.ok(err instanceof NarFormatError, `only NAR_MALFORMED, got ${String(err)}`);
        return;
      }
      const out = Buffer.from(await collect(renderNar(r.node, store)));
      assert.ok(out.equals(bad), 'an accepted NAR renders back to itself');
    }), { numRuns: 100 });
    // And the accepting side is reached: a changed content byte leaves a valid NAR.
    const nar = narOf(dir({ a: file('abcdef') }));
    const at = Buffer.from(nar).indexOf('abcdef');
    nar[at + 2] = 0x7a;
    const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    const r = await ingestNar(chunked(nar), store);
    assert.ok(Buffer.from(await collect(renderNar(r.node, store))).equals(nar));
  });

  it('an ingest stopped by a bad byte deep in a large file rejects with the format error', async () => {
    const content = new Uint8Array((3 << 20) + 3).fill(7);
    const nar = cat(MAGIC, '(', 'type', 'directory', entry('a'), 'entry', '(', 'name', str('b'), 'node', '(', 'type', 'regular', 'contents', str(content, 0x01));
    const store = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    await assert.rejects(ingestNar(chunked(nar, [65_536]), store), { code: 'NAR_MALFORMED', reason: 'BAD_PADDING' });
  });
});
