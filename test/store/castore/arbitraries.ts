// fast-check generators of valid castore names, nodes and Directories, names
// drawn from all bytes (not just UTF-8) so encoders meet what file systems hold.

import fc from 'fast-check';
import { type Directory, type Node, directoryFrom } from '../../../src/store/castore/index.js';

const SLASH = 0x2f;

/** A valid name: 1 to 255 bytes, no NUL or '/', not '.' or '..'; often short, to make collisions and ordering cases likely. */
export function arbName(): fc.Arbitrary<Uint8Array> {
  const byte = fc.oneof(
    fc.constantFrom(0x2e, 0x61, 0x62, 0x7a, 0xc3, 0xff, 0x80),
    fc.integer({ min: 1, max: 255 }).filter((b) => b !== SLASH),
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.array(byte, { minLength: 1, maxLength: 6 }) },
    { weight: 1, arbitrary: fc.array(byte, { minLength: 1, maxLength: 255 }) },
  ).map((bs) => new Uint8Array(bs)).filter((n) => !isDots(n));
}

function isDots(n: Uint8Array): boolean {
  return (n.length === 1 && n[0] === 0x2e) || (n.length === 2 && n[0] === 0x2e && n[1] === 0x2e);
}

const digest = (): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 32, maxLength: 32 });
const target = (): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 1, maxLength: 64 }).map((t) => t.map((b) => b || 1));

/** Sizes up to 2^60, so a dozen child directories cannot overflow u64. */
const size = (): fc.Arbitrary<bigint> => fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1n << 60n }));

export function arbNodeNamed(name: Uint8Array): fc.Arbitrary<Node> {
  return fc.oneof(
    fc.record({ digest: digest(), size: size() }).map(({ digest, size }) => ({ directory: { name, digest, size } })),
    fc.record({ digest: digest(), size: size(), executable: fc.boolean() }).map((f) => ({ file: { name, ...f } })),
    target().map((target) => ({ symlink: { name, target } })),
  );
}

export function arbNode(): fc.Arbitrary<Node> {
  return arbName().chain(arbNodeNamed);
}

/** A valid Directory of up to `maxEntries` entries. */
export function arbDirectory(maxEntries = 12): fc.Arbitrary<Directory> {
  return fc.uniqueArray(arbName(), { maxLength: maxEntries, selector: (n) => Buffer.from(n).toString('latin1') })
    .chain((names) => fc.tuple(...names.map(arbNodeNamed)))
    .map((nodes) => directoryFrom(nodes));
}
