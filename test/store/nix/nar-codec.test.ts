// The NAR codec: generated trees round-trip byte for byte through ingest and render on the
// memory and disk stores, the castore tree is the one the format implies, input may come in
// any chunking (down to single bytes), and rendering fails with the store's errors.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MemoryBlobService } from '../../../src/store/blobs/index.js';
import { MemoryDirectoryService } from '../../../src/store/directories/index.js';
import type { BlobService } from '../../../src/store/blob-service.js';
import type { DirectoryService } from '../../../src/store/directory-service.js';
import { formatDigest, asDigest } from '../../../src/store/digest.js';
import type { Node } from '../../../src/store/castore/index.js';
import { ingestNar, narHashOf, readNar, renderNar, type NarEvent } from '../../../src/store/nix/index.js';
import { chunkAt, flipByte, tempStore, type Store } from '../store-fixture.js';
import { arbChunking, arbNarTree, chunked, collect, dir, file, link, narOf, pseudoRandom, type NarTree } from './nar-fixture.js';

interface Services {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
}

const memory = (): Services => ({ blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

async function roundTrip(store: Services, tree: NarTree, chunks?: number[]): Promise<Node> {
  const nar = narOf(tree);
  const r = await ingestNar(chunked(nar, chunks), store);
  assert.equal(r.narSize, nar.length);
  assert.ok(same(r.narHash, sha256(nar)), 'narHash is the sha256 of the NAR read');
  const kind = tree.type === 'file' ? 'file' : tree.type;
  assert.ok(kind in r.node, `root is a ${kind} node`);
  const render = renderNar(r.node, store);
  const out = await collect(render);
  assert.ok(same(out, nar), `rendered NAR (${out.length} bytes) is byte-identical to the input (${nar.length} bytes)`);
  const sum = await render.result;
  assert.equal(sum.narSize, nar.length);
  assert.ok(same(sum.narHash, r.narHash));
  return r.node;
}

const rootName = (n: Node): Uint8Array => ('file' in n ? n.file.name : 'symlink' in n ? n.symlink.name : n.directory.name);

describe('NAR codec round trips', () => {
  let disk: Store;
  before(async () => { disk = await tempStore(); });
  after(async () => { await disk.cleanup(); });

  it('generated trees (file, symlink and directory roots; odd names; empty and multi-chunk files) on the memory store, in any chunking', async () => {
    await fc.assert(fc.asyncProperty(arbNarTree(), arbChunking(), async (tree, chunks) => {
      const node = await roundTrip(memory(), tree, chunks);
      assert.equal(rootName(node).length, 0, 'the root node has an empty name');
    }), { numRuns: 40 });
  });

  it('generated trees on the disk store (FastCDC chunks, dedup across trees)', async () => {
    await fc.assert(fc.asyncProperty(arbNarTree(), arbChunking(), async (tree, chunks) => {
      await roundTrip(disk.data, tree, chunks);
    }), { numRuns: 25 });
  });

  const awkward = (): NarTree => {
    let deep: NarTree = file('bottom');
    for (let i = 0; i < 150; i++) deep = dir({ [`d${i % 7}`]: deep });
    const wide: Record<string, NarTree> = {};
    for (let i = 0; i < 600; i++) wide[`f${i}`] = i % 3 === 0 ? dir({}) : i % 3 === 1 ? file(`content ${i}`, i % 2 === 0) : link(`../t${i}`);
    return dir([
      [Buffer.from('n'.repeat(255)), file('long name')],
      [Buffer.from([0xff, 0x01, 0x7f, 0x80]), file('not UTF-8')],
      [Buffer.from('deep'), deep],
      [Buffer.from('wide'), dir(wide)],
      [Buffer.from('empty'), file('')],
      [Buffer.from('empty-x'), file('', true)],
      [Buffer.from('empty-dir'), dir({})],
      [Buffer.from('big'), file(pseudoRandom(300_000, 7), true)],
      [Buffer.from('abs'), link('/nix/store/x')],
      [Buffer.from('long-target'), link('t'.repeat(4095))],
      [Buffer.from('.hidden'), file('.')],
      [Buffer.from('...'), dir({ x: file('y') })],
    ]);
  };

  for (const [name, open] of [['memory', () => memory()], ['disk', () => disk.data]] as const) {
    it(`a deep (150), wide (600) tree with long names and targets, on the ${name} store`, async () => {
      await roundTrip(open(), awkward(), [65_536, 3, 1000]);
    });
  }

  it('a file root, an executable file root, an empty file root and a symlink root', async () => {
    const s = memory();
    for (const t of [file('just a file'), file(pseudoRandom(50_000, 3), true), file(''), link('somewhere/else')]) {
      const node = await roundTrip(s, t);
      if (t.type === 'file') {
        assert.ok('file' in node);
        assert.equal(node.file.executable, t.executable);
        assert.equal(node.file.size, BigInt(t.contents.length));
      } else {
        assert.ok('symlink' in node);
        assert.deepEqual(node.symlink.target, (t as { target: Uint8Array }).target);
      }
    }
  });

  it('the castore tree is the one DESIGN.md gives digests for (empty dir; a dir with an empty .keep)', async () => {
    const s = memory();
    const empty = await ingestNar(chunked(narOf(dir({}))), s);
    assert.ok('directory' in empty.node);
    assert.equal(formatDigest(asDigest(empty.node.directory.digest)), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
    assert.equal(empty.node.directory.size, 0n);
    const keep = await ingestNar(chunked(narOf(dir({ '.keep': file('') }))), s);
    assert.ok('directory' in keep.node);
    assert.equal(formatDigest(asDigest(keep.node.directory.digest)), '8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e');
  });

  it('keeps executables, symlinks and sizes in the Directories it puts', async () => {
    const s = memory();
    const r = await ingestNar(chunked(narOf(dir({ run: file('#!/bin/sh\n', true), doc: file('text'), ln: link('run'), sub: dir({ a: file('') }) }))), s);
    assert.ok('directory' in r.node);
    const top = await s.directories.get(asDigest(r.node.directory.digest));
    assert.ok(top);
    assert.deepEqual(top.files.map((f) => [Buffer.from(f.name).toString(), f.executable, f.size]), [['doc', false, 4n], ['run', true, 10n]]);
    assert.deepEqual(top.symlinks.map((l) => [Buffer.from(l.name).toString(), Buffer.from(l.target).toString()]), [['ln', 'run']]);
    assert.deepEqual(top.directories.map((d) => [Buffer.from(d.name).toString(), d.size]), [['sub', 1n]]);
    assert.equal(r.node.directory.size, 5n, "four entries and the one below sub");
  });

  it('a NAR fed one byte at a time gives the same tree, narHash and rendering', async () => {
    const tree = dir({ a: file(pseudoRandom(3000, 1), true), b: dir({ c: link('../a'), d: file('') }), e: file('x') });
    const nar = narOf(tree);
    const s = memory();
    const whole = await ingestNar(chunked(nar), s);
    const bytewise = await ingestNar(chunked(nar, [1]), s);
    assert.deepEqual(bytewise, whole);
    assert.ok(same(await collect(renderNar(bytewise.node, { ...s, chunkSize: 64 })), nar), 'rendered in 64-byte chunks too');
  });

  it('reports the events in order: directory, entries, file with its data, symlink, end', async () => {
    const events: string[] = [];
    for await (const e of readNar(chunked(narOf(dir({ a: file('hello', true), b: link('a'), c: dir({}) })), [5]))) events.push(describeEvent(e));
    const data = events.filter((e) => e.startsWith('data'));
    assert.equal(data.map((d) => d.slice(5)).join(''), 'hello', 'data pieces carry the content in order');
    assert.deepEqual(events.filter((e) => !e.startsWith('data')), ['directory', 'entry a', 'file x 5', 'entry b', 'symlink a', 'entry c', 'directory', 'end', 'end']);
  });

  it('pulls its input only as events are consumed', async () => {
    const nar = narOf(dir({ big: file(pseudoRandom(4 << 20, 2)) }));
    let pulled = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const c of chunked(nar, [1024])) {
        pulled++;
        yield c;
      }
    }
    const it = readNar(counted())[Symbol.asyncIterator]();
    for (let e = await it.next(); !e.done && e.value.kind !== 'file'; e = await it.next()) { /* up to the file's header */ }
    assert.ok(pulled <= 1, `at the file's header ${pulled} chunks of 1024 were pulled`);
    for (let i = 0; i < 10; i++) await it.next();
    assert.ok(pulled <= 11, `after 10 data events ${pulled} chunks were pulled`);
    await it.return?.(undefined);
    assert.ok(pulled < 20, 'stopping the parser stops the input');
  });

  it('narHashOf gives the sha256 and size of the rendered NAR', async () => {
    const s = memory();
    const nar = narOf(dir({ x: file('1'), y: dir({ z: link('x') }) }));
    const r = await ingestNar(chunked(nar), s);
    const sum = await narHashOf(r.node, s.blobs, s.directories);
    assert.equal(sum.narSize, nar.length);
    assert.ok(same(sum.narHash, sha256(nar)));
  });
});

function describeEvent(e: NarEvent): string {
  switch (e.kind) {
    case 'entry': return `entry ${Buffer.from(e.name).toString()}`;
    case 'file': return `file ${e.executable ? 'x' : '-'} ${e.size}`;
    case 'data': return `data ${Buffer.from(e.bytes).toString()}`;
    case 'symlink': return `symlink ${Buffer.from(e.target).toString()}`;
    default: return e.kind;
  }
}

describe('NAR ingest failures', () => {
  it('a store whose writes fail mid-file rejects the ingest with its error and aborts the writer', async () => {
    const inner = new MemoryBlobService();
    const aborted: number[] = [];
    let writers = 0;
    // Fails the 5th write of each large blob, after earlier writes were issued without waiting.
    const failing: BlobService = {
      has: (d) => inner.has(d),
      stat: (d) => inner.stat(d),
      read: (d, r) => inner.read(d, r),
      openWriter: () => {
        const w = inner.openWriter();
        const id = writers++;
        let n = 0;
        return {
          write: async (b) => { if (++n === 5) throw new Error(`disk full in writer ${id}`); return w.write(b); },
          close: () => w.close(),
          abort: async () => { aborted.push(id); return w.abort(); },
        };
      },
    };
    const nar = narOf(dir({ a: file('small'), big: file(pseudoRandom(5 << 20, 8)) }));
    await assert.rejects(ingestNar(chunked(nar, [65_536]), { blobs: failing, directories: new MemoryDirectoryService() }), /disk full in writer 1/, "the small file took writer 0 (no putBytes here)");
    assert.deepEqual(aborted, [1]);
  });
});

describe('NAR render failures', () => {
  it('a missing blob fails the stream with MISSING_BLOB, and the result with it', async () => {
    const s = memory();
    const r = await ingestNar(chunked(narOf(dir({ a: file(pseudoRandom(40_000, 9)) }))), s);
    const empty = { blobs: new MemoryBlobService(), directories: s.directories };
    const render = renderNar(r.node, empty);
    await assert.rejects(collect(render), { code: 'MISSING_BLOB' });
    await assert.rejects(render.result, { code: 'MISSING_BLOB' });
  });

  it('a missing Directory fails with MISSING_CHILD', async () => {
    const s = memory();
    const r = await ingestNar(chunked(narOf(dir({ sub: dir({ a: file('x') }) }))), s);
    await assert.rejects(collect(renderNar(r.node, { blobs: s.blobs, directories: new MemoryDirectoryService() })), { code: 'MISSING_CHILD' });
  });

  it('a FileNode whose size is not its blob\'s fails with SIZE_MISMATCH, shorter or longer', async () => {
    const s = memory();
    const r = await ingestNar(chunked(narOf(file(pseudoRandom(40_000, 4)))), s);
    assert.ok('file' in r.node);
    for (const size of [39_999n, 40_001n, 0n, 5n]) {
      const node: Node = { file: { ...r.node.file, size } };
      await assert.rejects(collect(renderNar(node, s)), { code: 'SIZE_MISMATCH' }, `size ${size}`);
    }
  });

  it('a corrupt chunk on disk fails with the store\'s CORRUPT_CHUNK, before any of its bad bytes are emitted', async () => {
    const store = await tempStore();
    try {
      const content = pseudoRandom(200_000, 5);
      const nar = narOf(dir({ f: file(content) }));
      const r = await ingestNar(chunked(nar), store.data);
      assert.ok('directory' in r.node);
      const top = await store.data.directories.get(asDigest(r.node.directory.digest));
      const stat = await store.data.blobs.stat(asDigest(top!.files[0]!.digest));
      const victim = stat!.chunks[3]!;
      const at = await chunkAt(store, victim.digest);
      await flipByte(at.file, at.offset + 10);
      const got: Uint8Array[] = [];
      await assert.rejects(async () => { for await (const c of renderNar(r.node, { ...store.data, chunkSize: 1024 })) got.push(c); }, { code: 'CORRUPT_CHUNK' });
      const emitted = Buffer.concat(got);
      assert.ok(emitted.length < nar.length);
      assert.ok(emitted.equals(Buffer.from(nar.subarray(0, emitted.length))), 'what was emitted is a prefix of the true NAR');
    } finally {
      await store.cleanup();
    }
  });

  it('a root node that is none of the three kinds, or has a bad symlink target, is refused as INVALID_DIRECTORY', async () => {
    const s = memory();
    await assert.rejects(collect(renderNar({} as Node, s)), { code: 'INVALID_DIRECTORY' });
    await assert.rejects(collect(renderNar({ symlink: { name: new Uint8Array(0), target: new Uint8Array(0) } }, s)), { code: 'INVALID_DIRECTORY' });
  });

  it('a consumer that stops early leaves the result rejected with NAR_ABANDONED', async () => {
    const s = memory();
    const r = await ingestNar(chunked(narOf(file(pseudoRandom(100_000, 6)))), s);
    const render = renderNar(r.node, { ...s, chunkSize: 4096 });
    for await (const _ of render) break;
    await assert.rejects(render.result, { code: 'NAR_ABANDONED' });
    const unstarted = renderNar(r.node, s);
    await unstarted[Symbol.asyncIterator]().return?.();
    await assert.rejects(unstarted.result, { code: 'NAR_ABANDONED' }, 'closed before its first chunk');
  });
});
