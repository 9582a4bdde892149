// castore canonical encoding and digests: tvix's values, protons byte-identity,
// decode round trips (non-UTF-8 names included), and sizes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type Directory, type Node, decodeDirectory, decodeNode, directoryDigest, directorySize, encodeDirectory, encodeNode,
  InvalidDirectoryError,
} from '../../../src/store/castore/index.js';
import * as pb from '../../../src/store/castore/castore-pb.js';
import { toHex } from '../../../src/verify/blake3/index.js';
import {
  DIRECTORY_A, DIRECTORY_B, DIRECTORY_D, EDGE, EXPECTED, TVIX_HEAD_DIRECTORY_COMPLICATED, TVIX_HEAD_DIRECTORY_D_DIGEST, bytes, childOf, hex,
} from './fixtures.js';
import { arbDirectory, arbNode } from './arbitraries.js';

// protons types its bytes fields as Uint8Array<ArrayBuffer>; copies satisfy that.
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);
function toPb(dir: Directory): pb.Directory {
  return {
    directories: dir.directories.map((n) => ({ name: own(n.name), digest: own(n.digest), size: n.size })),
    files: dir.files.map((n) => ({ name: own(n.name), digest: own(n.digest), size: n.size, executable: n.executable })),
    symlinks: dir.symlinks.map((n) => ({ name: own(n.name), target: own(n.target) })),
  };
}
function nodeToPb(node: Node): pb.Node {
  const { directories, files, symlinks } = toPb({
    directories: 'directory' in node ? [node.directory] : [],
    files: 'file' in node ? [node.file] : [],
    symlinks: 'symlink' in node ? [node.symlink] : [],
  });
  return { directory: directories[0], file: files[0], symlink: symlinks[0] };
}

test('digests and sizes of tvix castore fixtures', () => {
  for (const { name, dir, digest, size } of EXPECTED) {
    assert.equal(toHex(directoryDigest(dir)), digest, name);
    assert.equal(directorySize(dir), size, name);
  }
});

test("tvix HEAD's fixtures, built with its double-counted sizes, encode to its digests too", () => {
  assert.equal(toHex(directoryDigest(TVIX_HEAD_DIRECTORY_COMPLICATED.dir)), TVIX_HEAD_DIRECTORY_COMPLICATED.digest);
  const d = { ...DIRECTORY_D, directories: [childOf('a', DIRECTORY_A), { ...childOf('b', DIRECTORY_B), size: 2n }] };
  assert.equal(toHex(directoryDigest(d)), TVIX_HEAD_DIRECTORY_D_DIGEST);
});

test('the exact bytes of the two digests DESIGN.md states', () => {
  assert.deepEqual(encodeDirectory(DIRECTORY_A), new Uint8Array(0));
  // Directory.files[0] = FileNode { name: ".keep", digest: BLAKE3("") }; size 0 and executable false are omitted.
  assert.equal(toHex(encodeDirectory(EXPECTED[1]!.dir)), '12290a052e6b6565701220af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
});

test('edge encoding (u64::MAX, executable, non-UTF-8 bytes) matches protobufjs byte for byte', () => {
  assert.equal(toHex(encodeDirectory(EDGE.dir)), EDGE.encoding);
  assert.equal(toHex(directoryDigest(EDGE.dir)), EDGE.digest);
});

test('protons writes the same bytes as the canonical encoder for the fixtures', () => {
  for (const { name, dir } of [...EXPECTED, { name: 'edge', dir: EDGE.dir }, { name: 'head', dir: TVIX_HEAD_DIRECTORY_COMPLICATED.dir }]) {
    assert.deepEqual(pb.Directory.encode(toPb(dir)), encodeDirectory(dir), name);
  }
});

test('protons writes the same bytes as the canonical encoder for any Directory and Node (property)', () => {
  fc.assert(fc.property(arbDirectory(), (dir) => {
    assert.deepEqual(pb.Directory.encode(toPb(dir)), encodeDirectory(dir));
  }), { numRuns: 300 });
  fc.assert(fc.property(arbNode(), (node) => {
    assert.deepEqual(pb.Node.encode(nodeToPb(node)), encodeNode(node));
  }), { numRuns: 300 });
});

test('decode(encode(dir)) gives dir back, names byte for byte (property)', () => {
  fc.assert(fc.property(arbDirectory(), (dir) => {
    const back = decodeDirectory(encodeDirectory(dir));
    assert.deepEqual(normalize(back), normalize(dir));
    assert.deepEqual(directoryDigest(back), directoryDigest(dir));
  }), { numRuns: 300 });
});

test('non-UTF-8 names and targets round-trip unchanged', () => {
  const latin1 = hex('e9'); // "é" in Latin-1: invalid as UTF-8
  const overlong = hex('c0af'); // an overlong "/" must stay bytes, not become a slash
  const dir: Directory = {
    directories: [{ ...childOf(latin1, DIRECTORY_A) }],
    files: [{ name: overlong, digest: new Uint8Array(32), size: 3n, executable: true }],
    symlinks: [{ name: hex('ff'), target: hex('fe2f80') }],
  };
  const back = decodeDirectory(encodeDirectory(dir));
  assert.deepEqual(normalize(back), normalize(dir));
  // A lossy string round trip would have replaced these with U+FFFD.
  assert.notEqual(toHex(directoryDigest(dir)), toHex(directoryDigest({
    ...dir, symlinks: [{ name: bytes(new TextDecoder().decode(hex('ff'))), target: hex('fe2f80') }],
  })));
});

test('Node encodes as the oneof wrapper and decodes back; anonymous root nodes', () => {
  const file: Node = { file: { name: bytes('x'), digest: new Uint8Array(32).fill(1), size: 5n, executable: false } };
  assert.equal(toHex(encodeNode(file)).slice(0, 2), '12');
  assert.deepEqual(normalizeNode(decodeNode(encodeNode(file))), normalizeNode(file));
  const root: Node = { directory: { name: new Uint8Array(0), digest: new Uint8Array(32), size: 0n } };
  assert.deepEqual(encodeNode(root), hex('0a221220' + '00'.repeat(32)));
  assert.deepEqual(normalizeNode(decodeNode(encodeNode(root), { anonymous: true })), normalizeNode(root));
  assert.throws(() => decodeNode(encodeNode(root)), { code: 'INVALID_DIRECTORY', reason: 'EMPTY_NAME' });
  assert.throws(() => decodeNode(encodeNode(file), { anonymous: true }), { reason: 'NAME_IN_ANONYMOUS_NODE' });
  assert.throws(() => decodeNode(new Uint8Array(0)), { reason: 'NO_NODE_SET' });
});

test('decoding skips unknown fields (as prost does) and canonicalises', () => {
  // field 15 varint 1 in front of the .keep directory's bytes
  const withUnknown = new Uint8Array([0x78, 0x01, ...encodeDirectory(EXPECTED[1]!.dir)]);
  const dir = decodeDirectory(withUnknown);
  assert.equal(toHex(directoryDigest(dir)), EXPECTED[1]!.digest);
});

test('malformed bytes are a typed error, never a crash or a hang (property)', () => {
  assert.throws(() => decodeDirectory(hex('0a05')), (err: unknown) =>
    err instanceof InvalidDirectoryError && err.code === 'INVALID_DIRECTORY' && err.reason === 'MALFORMED_PROTOBUF');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
    try {
      decodeDirectory(junk);
    } catch (err: unknown) {
      assert.ok(err instanceof InvalidDirectoryError, String(err));
    }
  }), { numRuns: 2000 });
});

test('encoding refuses a size that is not a uint64', () => {
  const bad = { directories: [], files: [{ name: bytes('f'), digest: new Uint8Array(32), size: -1n, executable: false }], symlinks: [] };
  assert.throws(() => encodeDirectory(bad), { code: 'INVALID_DIRECTORY', reason: 'SIZE_OUT_OF_RANGE' });
  const big = { ...bad, files: [{ ...bad.files[0]!, size: 1n << 64n }] };
  assert.throws(() => encodeDirectory(big), { reason: 'SIZE_OUT_OF_RANGE' });
});

test('size: files and symlinks count one, a child directory one plus its size', () => {
  const d = (n: bigint): Directory => ({ directories: [{ name: bytes('foo'), digest: new Uint8Array(32), size: n }], files: [], symlinks: [] });
  assert.equal(directorySize(DIRECTORY_A), 0n);
  assert.equal(directorySize(d(0n)), 1n);
  assert.equal(directorySize(d(4n)), 5n);
  assert.equal(directorySize({ ...DIRECTORY_A, symlinks: [{ name: bytes('foo'), target: bytes('bar') }] }), 1n);
});

// Decoded byte fields are Uint8Array views; compare contents, not identities.
function normalize(dir: Directory): unknown {
  return {
    directories: dir.directories.map((n) => ({ ...n, name: toHex(n.name), digest: toHex(n.digest) })),
    files: dir.files.map((n) => ({ ...n, name: toHex(n.name), digest: toHex(n.digest) })),
    symlinks: dir.symlinks.map((n) => ({ name: toHex(n.name), target: toHex(n.target) })),
  };
}
function normalizeNode(node: Node): unknown {
  return normalize({
    directories: 'directory' in node ? [node.directory] : [],
    files: 'file' in node ? [node.file] : [],
    symlinks: 'symlink' in node ? [node.symlink] : [],
  });
}
