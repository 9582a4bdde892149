// tvix castore's test fixtures (castore/src/fixtures.rs) rebuilt in castor's
// model, with their digests, for the codec tests and the DirectoryService suite.

import { blake3 } from '../../../src/verify/blake3/index.js';
import { type Directory, type DirectoryNode, directoryDigest, directorySize } from '../../../src/store/castore/index.js';

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export const EMPTY_BLOB_DIGEST = blake3(new Uint8Array(0));

/** A DirectoryNode pointing at `dir`, as tvix's fixtures build them. */
export function childOf(name: string | Uint8Array, dir: Directory): DirectoryNode {
  return { name: typeof name === 'string' ? bytes(name) : name, digest: directoryDigest(dir), size: directorySize(dir) };
}

const keepFile = { name: bytes('.keep'), digest: EMPTY_BLOB_DIGEST, size: 0n, executable: false };

export const DIRECTORY_WITH_KEEP: Directory = { directories: [], files: [keepFile], symlinks: [] };
export const DIRECTORY_COMPLICATED: Directory = {
  directories: [childOf('keep', DIRECTORY_WITH_KEEP)],
  files: [keepFile],
  symlinks: [{ name: bytes('aa'), target: bytes('/nix/store/somewhereelse') }],
};
export const DIRECTORY_A: Directory = { directories: [], files: [], symlinks: [] };
export const DIRECTORY_B: Directory = { directories: [childOf('a', DIRECTORY_A)], files: [], symlinks: [] };
export const DIRECTORY_C: Directory = { directories: [childOf('a', DIRECTORY_A), childOf("a'", DIRECTORY_A)], files: [], symlinks: [] };
export const DIRECTORY_D: Directory = { directories: [childOf('a', DIRECTORY_A), childOf('b', DIRECTORY_B)], files: [], symlinks: [] };

/**
 * Expected digests and sizes. The first two are tvix's own literals (castore
 * proto tests, castore-go, and DESIGN.md). The others are tvix's fixtures with
 * sizes by castore.proto's definition, as tvix built them until 2a95092d
 * (2024-08-16); each was computed independently with protobufjs 7.6.6 (reflection
 * over protos/castore.proto, default fields left out) and hashed with b3sum.
 */
export const EXPECTED: readonly { name: string; dir: Directory; digest: string; size: bigint }[] = [
  { name: 'DIRECTORY_A (empty)', dir: DIRECTORY_A, size: 0n, digest: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262' },
  { name: 'DIRECTORY_WITH_KEEP', dir: DIRECTORY_WITH_KEEP, size: 1n, digest: '8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e' },
  { name: 'DIRECTORY_COMPLICATED', dir: DIRECTORY_COMPLICATED, size: 4n, digest: '3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a' },
  { name: 'DIRECTORY_B', dir: DIRECTORY_B, size: 1n, digest: '8701f4722d8dae7f2c40fa003331b8437a3825f9e1bfd3a77998c64cc226b9cc' },
  { name: 'DIRECTORY_C', dir: DIRECTORY_C, size: 2n, digest: '78eb200ae0cc95d4ea954655fbcf91e285013a261310e161927f2401d2bca803' },
  { name: 'DIRECTORY_D', dir: DIRECTORY_D, size: 3n, digest: '99922a5c1801805287a647af73bca0ed7352a5f7f373e54992795bcc4a235213' },
];

/**
 * tvix since 2a95092d (and snix) builds its fixtures with crate::Directory::size,
 * which counts every entry twice (nodes.len() plus one per node), so its "keep"
 * node says size 2 where castore.proto's definition gives 1, and its
 * DIRECTORY_COMPLICATED digest differs. Same independent derivation as above.
 */
export const TVIX_HEAD_DIRECTORY_COMPLICATED: { dir: Directory; digest: string } = {
  dir: { ...DIRECTORY_COMPLICATED, directories: [{ ...childOf('keep', DIRECTORY_WITH_KEEP), size: 2n }] },
  digest: '424a7f6ce08d805d15b428062faae96299a1675d708c3a39261afe38cdd04feb',
};
/** tvix HEAD's DIRECTORY_D: its "b" node says size 2 for DIRECTORY_B. */
export const TVIX_HEAD_DIRECTORY_D_DIGEST = '76cd8b55b37333961c1778ba997e57df92e219926ae5a66c414b810331a77603';

/**
 * Encoding edge cases: a u64::MAX size, a 2^40 file size, an executable file and
 * non-UTF-8 names and target. Bytes as protobufjs 7.6.6 writes them, digest by b3sum.
 */
export const EDGE: { dir: Directory; encoding: string; digest: string } = {
  dir: {
    directories: [{ name: hex('fffe'), digest: new Uint8Array(32).fill(7), size: (1n << 64n) - 1n }],
    files: [{ name: hex('80'), digest: new Uint8Array(32).fill(9), size: 1n << 40n, executable: true }],
    symlinks: [{ name: hex('7ac3'), target: hex('c328') }],
  },
  encoding: '0a310a02fffe1220' + '07'.repeat(32) + '18ffffffffffffffffff01' +
    '122e0a0180' + '1220' + '09'.repeat(32) + '1880808080802020011a080a027ac31202c328',
  digest: '34be6e521d3d96afbb61335ee7df61a578fcb287c46d7ca7fde9dd7663420156',
};
