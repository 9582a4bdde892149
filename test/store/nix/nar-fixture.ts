// NAR test material: trees in memory, a reference NAR encoder written from the format's
// description (independent of src/store/nix), fast-check trees, and re-chunked input.

import fc from 'fast-check';
import { compareNames } from '../../../src/store/castore/index.js';
import { arbName } from '../castore/arbitraries.js';

export type NarTree =
  | { readonly type: 'file'; readonly contents: Uint8Array; readonly executable: boolean }
  | { readonly type: 'symlink'; readonly target: Uint8Array }
  | { readonly type: 'directory'; readonly entries: readonly (readonly [Uint8Array, NarTree])[] };

const enc = new TextEncoder();
export const bytes = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? enc.encode(s) : s);

/** One NAR string: u64 little-endian length, the bytes, zero padding to 8. */
export function str(s: string | Uint8Array, pad = 0): Uint8Array {
  const b = bytes(s);
  const out = new Uint8Array(8 + Math.ceil(b.length / 8) * 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(b.length), true);
  out.set(b, 8);
  // A non-zero `pad` fills the padding with that byte, to make mis-padded NARs.
  out.fill(pad, 8 + b.length);
  return out;
}

/** A bare u64 little-endian. */
export function u64(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

export function cat(...parts: (Uint8Array | string)[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? str(p) : p))));
}

/** The tokens of a node, without the magic: Nix's format, entries sorted bytewise. */
export function nodeTokens(t: NarTree): Uint8Array[] {
  const out: Uint8Array[] = [str('('), str('type')];
  if (t.type === 'file') {
    out.push(str('regular'));
    if (t.executable) out.push(str('executable'), str(''));
    out.push(str('contents'), str(t.contents));
  } else if (t.type === 'symlink') {
    out.push(str('symlink'), str('target'), str(t.target));
  } else {
    out.push(str('directory'));
    const sorted = [...t.entries].sort((a, b) => compareNames(a[0], b[0]));
    for (const [name, child] of sorted) out.push(str('entry'), str('('), str('name'), str(name), str('node'), ...nodeTokens(child), str(')'));
  }
  out.push(str(')'));
  return out;
}

export function narOf(t: NarTree): Uint8Array {
  return cat(str('nix-archive-1'), ...nodeTokens(t));
}

export const file = (contents: string | Uint8Array, executable = false): NarTree => ({ type: 'file', contents: bytes(contents), executable });
export const link = (target: string | Uint8Array): NarTree => ({ type: 'symlink', target: bytes(target) });
export const dir = (entries: Record<string, NarTree> | (readonly [Uint8Array, NarTree])[]): NarTree => ({
  type: 'directory',
  entries: Array.isArray(entries) ? entries : Object.entries(entries).map(([k, v]) => [bytes(k), v] as const),
});

/** `data` as an async stream of chunks of the given sizes, cycled (a size 1 feeds it byte by byte). */
export async function* chunked(data: Uint8Array, sizes: readonly number[] = [data.length || 1]): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let at = 0; at < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    yield data.subarray(at, at + n);
    at += n;
  }
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

const contents = (): fc.Arbitrary<Uint8Array> => fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  // Now and then a file of several FastCDC chunks at the test stores' small sizes (1/4/16 KiB).
  { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 60_000 }).chain((n) => fc.integer().map((seed) => pseudoRandom(n, seed))) },
);

const target = (): fc.Arbitrary<Uint8Array> => fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 4000, maxLength: 4095 }) },
).map((t) => t.map((b) => b || 1));

const leaf = (): fc.Arbitrary<NarTree> => fc.oneof(
  fc.record({ contents: contents(), executable: fc.boolean() }).map(({ contents, executable }) => ({ type: 'file' as const, contents, executable })),
  target().map((target) => ({ type: 'symlink' as const, target })),
);

/** A NAR tree: a file, symlink or directory root, directories nested a few deep, any castore-valid names. */
export function arbNarTree(): fc.Arbitrary<NarTree> {
  const { node } = fc.letrec<{ node: NarTree; directory: NarTree }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf(), tie('directory')),
    directory: fc.uniqueArray(fc.tuple(arbName(), tie('node')), { maxLength: 6, selector: ([n]) => Buffer.from(n).toString('latin1') })
      .map((entries): NarTree => ({ type: 'directory', entries })),
  }));
  return node;
}

/** Chunk sizes to cut a NAR into: single bytes, odd sizes, whole. */
export function arbChunking(): fc.Arbitrary<number[]> {
  return fc.oneof(
    fc.constant([1 << 30] as number[]),
    fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 4 }),
  );
}

/** Deterministic bytes (xorshift32) of length n. */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
