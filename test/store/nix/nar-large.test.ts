// Bounded memory: a NAR holding a 256 MiB file, generated on the fly, is ingested into
// the disk store and rendered back while the process's RSS is sampled; neither side may
// hold the file (or the NAR) whole. The bytes are compared by sha256, not kept.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DEFAULT_CHUNKER } from '../../../src/store/chunking/index.js';
import { ingestNar, renderNar } from '../../../src/store/nix/index.js';
import { tempStore } from '../store-fixture.js';
import { cat, pseudoRandom, str, u64 } from './nar-fixture.js';

const MiB = 1 << 20;
const FILE_SIZE = 256 * MiB + 5;

/** RSS growth over the baseline that fails the test: the file alone is 256 MiB. */
const RSS_LIMIT = 160 * MiB;

describe('NAR codec memory', () => {
  it(`ingests and renders a NAR with a ${FILE_SIZE >> 20} MiB file in bounded memory`, async () => {
    const store = await tempStore(DEFAULT_CHUNKER);
    try {
      const block = pseudoRandom(MiB, 99);
      const head = cat(str('nix-archive-1'), '(', 'type', 'directory', 'entry', '(', 'name', str('big'), 'node', '(', 'type', 'regular', 'executable', str(''), 'contents', u64(FILE_SIZE));
      const tail = cat(new Uint8Array(3), ')', ')', 'entry', '(', 'name', str('small'), 'node', '(', 'type', 'regular', 'contents', str('tail'), ')', ')', ')');
      const expected = createHash('sha256');
      let peak = 0;
      const sample = (): void => { peak = Math.max(peak, process.memoryUsage.rss()); };
      // A fresh 1 MiB buffer per piece, as a socket or file stream would hand them over,
      // each a little different so the store dedups some chunks but not all.
      async function* generate(): AsyncGenerator<Uint8Array> {
        expected.update(head);
        yield head;
        for (let left = FILE_SIZE, n = 0; left > 0; n++) {
          const piece = new Uint8Array(Math.min(MiB, left));
          piece.set(block.subarray(0, piece.length));
          new DataView(piece.buffer).setUint32(0, n, true);
          expected.update(piece);
          sample();
          yield piece;
          left -= piece.length;
        }
        expected.update(tail);
        yield tail;
      }
      global.gc?.();
      const base = process.memoryUsage.rss();
      const r = await ingestNar(generate(), store.data);
      const narSize = head.length + FILE_SIZE + tail.length;
      assert.equal(r.narSize, narSize);
      assert.ok(Buffer.from(r.narHash).equals(expected.digest()), 'narHash is the sha256 of the bytes generated');
      const ingestPeak = peak - base;

      const rendered = createHash('sha256');
      let size = 0;
      const render = renderNar(r.node, store.data);
      for await (const chunk of render) {
        rendered.update(chunk);
        size += chunk.length;
        sample();
      }
      assert.equal(size, narSize);
      assert.ok(rendered.digest().equals(Buffer.from(r.narHash)), 'the rendered NAR hashes to the narHash');
      assert.ok(Buffer.from((await render.result).narHash).equals(Buffer.from(r.narHash)));
      const renderPeak = peak - base;
      console.log(`# RSS over baseline: ingest peak ${(ingestPeak / MiB).toFixed(0)} MiB, ingest+render peak ${(renderPeak / MiB).toFixed(0)} MiB (limit ${RSS_LIMIT / MiB})`);
      assert.ok(renderPeak < RSS_LIMIT, `RSS grew by ${(renderPeak / MiB).toFixed(0)} MiB over the baseline`);
    } finally {
      await store.cleanup();
    }
  });
});
