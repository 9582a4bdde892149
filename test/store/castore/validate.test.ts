// castore validation: every rule tvix enforces, each failure with its stable
// code, reason and offending name; tvix's own validation cases included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type Directory, type DirectoryNode, type FileNode, type SymlinkNode, InvalidDirectoryError, type InvalidDirectoryReason,
  MAX_UINT64, decodeDirectory, encodeDirectory, validateDirectory, validateName, validateNode,
} from '../../../src/store/castore/index.js';
import { CastorError } from '../../../src/verify/errors.js';
import { EXPECTED, bytes, hex } from './fixtures.js';
import { arbDirectory } from './arbitraries.js';

const DUMMY = new Uint8Array(32);
const dirNode = (name: string | Uint8Array, over: Partial<DirectoryNode> = {}): DirectoryNode =>
  ({ name: typeof name === 'string' ? bytes(name) : name, digest: DUMMY, size: 42n, ...over });
const fileNode = (name: string | Uint8Array, over: Partial<FileNode> = {}): FileNode =>
  ({ name: typeof name === 'string' ? bytes(name) : name, digest: DUMMY, size: 42n, executable: false, ...over });
const linkNode = (name: string | Uint8Array, target: Uint8Array = bytes('foo')): SymlinkNode =>
  ({ name: typeof name === 'string' ? bytes(name) : name, target });
const dir = (d: Partial<Directory>): Directory => ({ directories: [], files: [], symlinks: [], ...d });

function rejects(d: Directory, reason: InvalidDirectoryReason, name?: Uint8Array | string): void {
  assert.throws(() => validateDirectory(d), (err: unknown) => {
    assert.ok(err instanceof InvalidDirectoryError, String(err));
    assert.ok(err instanceof CastorError);
    assert.equal(err.code, 'INVALID_DIRECTORY');
    assert.equal(err.reason, reason);
    if (name !== undefined) {
      assert.deepEqual(err.nodeName, typeof name === 'string' ? bytes(name) : name);
      assert.deepEqual(err.value, err.nodeName);
    }
    return true;
  });
}

test('valid: empty, the tvix fixtures, and lists sorted each on its own', () => {
  for (const { dir: d } of EXPECTED) validateDirectory(d);
  validateDirectory(dir({ directories: [dirNode('a'), dirNode('b')] }));
  // [b, c] and [a] are each sorted; order across lists does not matter (tvix validate_sorting)
  validateDirectory(dir({ directories: [dirNode('b'), dirNode('c')], symlinks: [linkNode('a')] }));
  validateDirectory(dir({ files: [fileNode('x'.repeat(255))] }));
  validateDirectory(dir({ symlinks: [linkNode('l', new Uint8Array(4095).fill(0x61))] }));
  validateDirectory(dir({ directories: [dirNode('d', { size: MAX_UINT64 - 1n })] }));
});

test('names: empty, ".", "..", NUL, slash, over 255 bytes (tvix validate_invalid_names)', () => {
  rejects(dir({ directories: [dirNode('')] }), 'EMPTY_NAME', '');
  rejects(dir({ directories: [dirNode('\0')] }), 'NAME_HAS_NUL', '\0');
  rejects(dir({ directories: [dirNode('.')] }), 'DOT_NAME', '.');
  rejects(dir({ files: [fileNode('..')] }), 'DOT_NAME', '..');
  rejects(dir({ symlinks: [linkNode('\x00')] }), 'NAME_HAS_NUL');
  rejects(dir({ symlinks: [linkNode('foo/bar')] }), 'NAME_HAS_SLASH', 'foo/bar');
  rejects(dir({ symlinks: [linkNode('X'.repeat(500))] }), 'NAME_TOO_LONG', 'X'.repeat(500));
  rejects(dir({ files: [fileNode('x'.repeat(256))] }), 'NAME_TOO_LONG');
  rejects(dir({ files: [fileNode('/')] }), 'NAME_HAS_SLASH');
  // names that merely look like the forbidden ones are fine
  for (const ok of ['...', '.a', 'a.', ' ', '\\']) validateName(bytes(ok));
  validateName(hex('c0af')); // overlong UTF-8 for "/" is not a slash byte
});

test('digests must be 32 bytes (tvix validate_invalid_digest)', () => {
  rejects(dir({ directories: [dirNode('foo', { digest: hex('0042') })] }), 'DIGEST_LENGTH', 'foo');
  rejects(dir({ files: [fileNode('foo', { digest: new Uint8Array(33) })] }), 'DIGEST_LENGTH', 'foo');
  rejects(dir({ files: [fileNode('foo', { digest: new Uint8Array(0) })] }), 'DIGEST_LENGTH', 'foo');
});

test('symlink targets: non-empty, at most 4095 bytes, no NUL', () => {
  rejects(dir({ symlinks: [linkNode('l', new Uint8Array(0))] }), 'EMPTY_SYMLINK_TARGET', 'l');
  rejects(dir({ symlinks: [linkNode('l', new Uint8Array(4096).fill(0x61))] }), 'SYMLINK_TARGET_TOO_LONG', 'l');
  rejects(dir({ symlinks: [linkNode('l', hex('610062'))] }), 'SYMLINK_TARGET_HAS_NUL', 'l');
});

test('sorting and uniqueness (tvix validate_sorting)', () => {
  rejects(dir({ directories: [dirNode('b'), dirNode('a')] }), 'WRONG_SORTING', 'a');
  rejects(dir({ directories: [dirNode('a'), dirNode('a')] }), 'DUPLICATE_NAME', 'a');
  rejects(dir({ directories: [dirNode('a')], symlinks: [linkNode('a')] }), 'DUPLICATE_NAME', 'a');
  rejects(dir({ files: [fileNode('x')], symlinks: [linkNode('x')] }), 'DUPLICATE_NAME', 'x');
  // bytewise, not by code point or locale: 0xff sorts after 'z', 'B' before 'a'
  validateDirectory(dir({ files: [fileNode('B'), fileNode('a'), fileNode('z'), fileNode(hex('ff'))] }));
  rejects(dir({ files: [fileNode(hex('ff')), fileNode('z')] }), 'WRONG_SORTING', 'z');
  // a prefix sorts first
  rejects(dir({ files: [fileNode('ab'), fileNode('a')] }), 'WRONG_SORTING', 'a');
});

test('sizes: each a uint64, and the total within u64 (tvix SizeOverflow)', () => {
  rejects(dir({ directories: [dirNode('d', { size: MAX_UINT64 })] }), 'SIZE_OVERFLOW');
  rejects(dir({ directories: [dirNode('a', { size: MAX_UINT64 / 2n }), dirNode('b', { size: MAX_UINT64 / 2n })] }), 'SIZE_OVERFLOW');
  rejects(dir({ files: [fileNode('f', { size: -1n })] }), 'SIZE_OUT_OF_RANGE', 'f');
  rejects(dir({ directories: [dirNode('d', { size: MAX_UINT64 + 1n })] }), 'SIZE_OUT_OF_RANGE', 'd');
  validateDirectory(dir({ files: [fileNode('f', { size: MAX_UINT64 })] })); // a file's size is its own
});

test('decodeDirectory validates what it decodes', () => {
  const bad = encodeDirectory(dir({ directories: [dirNode('b'), dirNode('a')] }));
  assert.throws(() => decodeDirectory(bad), { code: 'INVALID_DIRECTORY', reason: 'WRONG_SORTING' });
});

test('a non-UTF-8 offending name is reported as hex, a UTF-8 one quoted', () => {
  assert.throws(() => validateDirectory(dir({ files: [fileNode(hex('ff2f'))] })), (err: unknown) =>
    err instanceof InvalidDirectoryError && err.message.includes('0xff2f'));
  assert.throws(() => validateDirectory(dir({ files: [fileNode('a/b')] })), (err: unknown) =>
    err instanceof InvalidDirectoryError && err.message.includes('"a/b"'));
});

test('validateNode: named and anonymous nodes', () => {
  validateNode({ file: fileNode('f') });
  validateNode({ directory: dirNode('') }, { anonymous: true });
  assert.throws(() => validateNode({ symlink: linkNode('s', new Uint8Array(0)) }), { reason: 'EMPTY_SYMLINK_TARGET' });
  assert.throws(() => validateNode({ file: fileNode('') }), { reason: 'EMPTY_NAME' });
  assert.throws(() => validateNode({ file: fileNode('f') }, { anonymous: true }), { reason: 'NAME_IN_ANONYMOUS_NODE' });
  assert.throws(() => validateNode({ directory: dirNode('', { digest: DUMMY.subarray(1) }) }, { anonymous: true }), { reason: 'DIGEST_LENGTH' });
});

test('generated Directories validate, and swapping two entries of a list is caught (property)', () => {
  fc.assert(fc.property(arbDirectory(), (d) => {
    validateDirectory(d);
    if (d.files.length >= 2) {
      const files = [...d.files];
      [files[0], files[1]] = [files[1]!, files[0]!];
      rejects({ ...d, files }, 'WRONG_SORTING');
    }
  }), { numRuns: 300 });
});
