// The Index: canonical encoding (the same bytes protons writes), the validating scan
// (sorted, unique, well-formed entries), Nix metadata, and lookups by name.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeNode } from '../../../src/store/castore/index.js';
import {
  type IndexEntry, InvalidIndexError, IndexView, decodeNixInfo, encodeEntry, encodeIndex, encodeNixInfo, scanIndex, sortEntries,
} from '../../../src/store/trust/index.js';
import * as pb from '../../../src/store/trust/index-pb.js';
import { narinfoFingerprint, nix32Encode, verifyFingerprint } from '../../../src/verify/nix-fingerprint.js';
import { parsePublicKey } from '../../../src/verify/keys.js';
import {
  CACHE_NIXOS_ORG_KEY, CURL_NAME, CURL_SIG, EMPTY, curlNixInfo, dirNode, enc, entries, fileNode, indexOf, symlinkNode,
} from './fixtures.js';

const NAMES = ['hello', 'a', 'zlib', 'b.drv', 'glibc-2.34', '0', 'A', 'ä-utf8'];

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err: unknown) {
    assert.ok(err instanceof InvalidIndexError, `expected InvalidIndexError, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('no error');
}

/** An Index of raw entry bodies, in the given order (no sorting, no checks). */
function rawIndex(bodies: Uint8Array[]): Uint8Array {
  return concat(bodies.map((b) => Uint8Array.from([0x0a, ...varint(b.length), ...b])));
}
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}
function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

test('encodeIndex writes the bytes protons writes for the same Index, nodes as castore encodes them', () => {
  const list = sortEntries([...entries(NAMES), { name: enc(CURL_NAME), node: dirNode(99, 12n), nix: curlNixInfo() }]);
  const ours = encodeIndex(list);
  const theirs = pb.Index.encode({
    entries: list.map((e): unknown => ({
      name: e.name,
      node: e.node as pb.Node,
      ...(e.nix && { nix: { references: [...e.nix.references], narinfo: e.nix.narinfo && { ...e.nix.narinfo, signatures: [...e.nix.narinfo.signatures], referenceNames: [...e.nix.narinfo.referenceNames] } } }),
    })),
  } as pb.Index);
  assert.deepEqual(ours, theirs);
  // The Node inside an entry is castore's canonical encoding.
  const body = encodeEntry(list[0]!);
  const node = encodeNode(list[0]!.node);
  assert.ok(Buffer.from(body).includes(Buffer.from(node)));
  // Decoded by protons, it is the same Index.
  assert.equal(pb.Index.decode(ours).entries.length, list.length);
});

test('scanIndex accepts what encodeIndex writes and IndexView finds every name, and none other', () => {
  const list = sortEntries(entries(NAMES));
  const view = IndexView.scan(encodeIndex(list));
  assert.equal(view.count, list.length);
  list.forEach((e, i) => {
    assert.equal(view.find(e.name), i);
    assert.deepEqual(view.lookup(e.name), e);
  });
  for (const missing of ['', 'aa', 'zzz', 'hello0', '\u0000']) assert.equal(view.lookup(enc(missing)), undefined);
  assert.equal(IndexView.scan(new Uint8Array(0)).count, 0, 'the empty index is valid');
});

test('unsorted and duplicate entries are rejected, by the encoder and by the scan', () => {
  const [a, b] = [encodeEntry({ name: enc('a'), node: dirNode(1) }), encodeEntry({ name: enc('b'), node: dirNode(2) })];
  assert.equal(reason(() => scanIndex(rawIndex([b, a]))), 'UNSORTED');
  assert.equal(reason(() => scanIndex(rawIndex([a, a]))), 'DUPLICATE_NAME');
  assert.equal(reason(() => scanIndex(rawIndex([a, b, a]))), 'UNSORTED');
  const ab = encodeEntry({ name: enc('ab'), node: dirNode(3) });
  assert.equal(reason(() => scanIndex(rawIndex([ab, a]))), 'UNSORTED', 'a prefix sorts first');
  assert.equal(reason(() => sortEntries([{ name: enc('x'), node: dirNode(1) }, { name: enc('x'), node: dirNode(2) }])), 'DUPLICATE_NAME');
  assert.equal(reason(() => encodeIndex([{ name: enc('b'), node: dirNode(1) }, { name: enc('a'), node: dirNode(2) }])), 'UNSORTED');
});

test('bad names and nodes are rejected with the rule they break', () => {
  const entry = (name: Uint8Array, body: number[]): Uint8Array => Uint8Array.from([0x0a, name.length, ...name, ...body]);
  const nodeField = (node: Uint8Array): number[] => [0x12, node.length, ...node];
  const good = nodeField(encodeNode(dirNode(1)));
  for (const name of ['.', '..', 'a/b', 'nul\u0000', 'x'.repeat(256)]) {
    assert.equal(reason(() => scanIndex(rawIndex([entry(enc(name), good)]))), 'BAD_NAME', name);
    assert.equal(reason(() => encodeIndex([{ name: enc(name), node: dirNode(1) }])), 'BAD_NAME', name);
  }
  assert.equal(reason(() => scanIndex(rawIndex([Uint8Array.from(good)]))), 'BAD_NAME', 'no name');
  const named = encodeNode({ directory: { name: enc('n'), digest: new Uint8Array(32), size: 3n } } as never);
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), nodeField(named))]))), 'BAD_NODE', 'a named root node');
  assert.equal(reason(() => encodeIndex([{ name: enc('a'), node: { directory: { name: enc('n'), digest: new Uint8Array(32), size: 1n } } }])), 'BAD_NODE');
  const shortDigest = encodeNode({ file: { name: EMPTY, digest: new Uint8Array(31), size: 1n, executable: false } });
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), nodeField(shortDigest))]))), 'BAD_NODE');
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), nodeField(encodeNode(symlinkNode('x\u0000y'))))]))), 'BAD_NODE');
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), [])]))), 'BAD_NODE', 'no node');
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), [0x12, 0])]))), 'BAD_NODE', 'empty node');
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), [...good, 0x20, 1])]))), 'MALFORMED', 'unknown field after the node');
  assert.equal(reason(() => scanIndex(Uint8Array.from([0x12, 0]))), 'MALFORMED', 'unknown Index field');
  assert.equal(reason(() => scanIndex(Uint8Array.from([0x0a, 0x80, 0x00]))), 'MALFORMED', 'non-minimal length');
  // A non-canonical node (field present with its default) is refused too.
  const zeroSize = Uint8Array.from([0x0a, 36, 0x12, 32, ...new Uint8Array(32), 0x18, 0]);
  assert.equal(reason(() => scanIndex(rawIndex([entry(enc('a'), nodeField(zeroSize))]))), 'BAD_NODE');
});

test('Nix metadata: a real cache.nixos.org narinfo survives the index, and its signature still verifies', () => {
  const index = indexOf([{ name: enc(CURL_NAME), node: dirNode(7, 40n), nix: curlNixInfo() }, ...entries(['x', 'y'])]);
  const entry = IndexView.scan(index).lookup(enc(CURL_NAME))!;
  const n = entry.nix!.narinfo!;
  const fp = narinfoFingerprint(`/nix/store/${CURL_NAME}`, `sha256:${nix32Encode(n.narSha256)}`, n.narSize, n.referenceNames.map((r) => `/nix/store/${r}`));
  const sig = `${n.signatures[0]!.name}:${Buffer.from(n.signatures[0]!.data).toString('base64')}`;
  assert.equal(sig, CURL_SIG);
  assert.equal(verifyFingerprint(fp, sig, [parsePublicKey(CACHE_NIXOS_ORG_KEY)]), true);
  // A tvix PathInfo decoder reads NixInfo bytes as a PathInfo without a node: same fields.
  const decoded = pb.NixInfo.decode(encodeNixInfo(curlNixInfo()));
  assert.deepEqual(decoded.narinfo?.referenceNames, curlNixInfo().narinfo!.referenceNames);
});

test('Nix metadata rules: lengths and counts in the scan, names matching digests when read', () => {
  const info = curlNixInfo();
  const bad = (nix: unknown): string => reason(() => encodeIndex([{ name: enc('a'), node: dirNode(1), nix } as IndexEntry]));
  assert.equal(bad({ ...info, references: info.references.slice(1) }), 'BAD_NIX_INFO', 'count differs');
  assert.equal(bad({ ...info, narinfo: { ...info.narinfo!, narSha256: new Uint8Array(20) } }), 'BAD_NIX_INFO');
  assert.equal(bad({ ...info, narinfo: { ...info.narinfo!, referenceNames: [...info.narinfo!.referenceNames.slice(1), info.narinfo!.referenceNames[0]!] } }), 'BAD_NIX_INFO', 'names out of step with digests');
  // The scan checks counts; a reference name that does not match its digest passes the scan but not decodeNixInfo.
  const swapped = pb.NixInfo.encode({ references: [info.references[1]!, info.references[0]!, ...info.references.slice(2)], narinfo: { ...info.narinfo!, signatures: [...info.narinfo!.signatures], referenceNames: [...info.narinfo!.referenceNames] } } as pb.NixInfo);
  const body = concat([encodeEntry({ name: enc('a'), node: dirNode(1) }), Uint8Array.from([0x1a, ...varint(swapped.length)]), swapped]);
  const index = rawIndex([body]);
  const view = IndexView.scan(index);
  assert.equal(reason(() => view.entryAt(0)), 'BAD_NIX_INFO');
  const fewer = pb.NixInfo.encode({ references: info.references.slice(1), narinfo: { ...info.narinfo!, signatures: [...info.narinfo!.signatures], referenceNames: [...info.narinfo!.referenceNames] } } as pb.NixInfo);
  const body2 = concat([encodeEntry({ name: enc('a'), node: dirNode(1) }), Uint8Array.from([0x1a, ...varint(fewer.length)]), fewer]);
  assert.equal(reason(() => scanIndex(rawIndex([body2]))), 'BAD_NIX_INFO', 'the scan counts');
  assert.deepEqual(decodeNixInfo(encodeNixInfo(info)), info);
});

test('any flipped byte: the scan accepts or throws InvalidIndexError, and what it accepts decodes or throws InvalidIndexError', () => {
  const index = indexOf([{ name: enc(CURL_NAME), node: fileNode(3, 5n, true), nix: curlNixInfo() }, ...entries(NAMES)]);
  fc.assert(fc.property(fc.nat(index.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
    const bad = index.slice();
    bad[at]! ^= mask;
    let view: IndexView;
    try {
      view = IndexView.scan(bad);
    } catch (err: unknown) {
      assert.ok(err instanceof InvalidIndexError, String(err));
      return;
    }
    for (let i = 0; i < view.count; i++) {
      try {
        view.entryAt(i);
      } catch (err: unknown) {
        assert.ok(err instanceof InvalidIndexError, String(err));
      }
    }
  }), { numRuns: 2000 });
});

test('entries in any order, with any valid names, encode sorted and are all found', () => {
  const name = fc.uint8Array({ minLength: 1, maxLength: 20 }).filter((n) => !n.includes(0) && !n.includes(0x2f) && !(n.length <= 2 && n.every((c) => c === 0x2e)));
  fc.assert(fc.property(fc.uniqueArray(name, { maxLength: 40, selector: (n) => Buffer.from(n).toString('hex') }), (names) => {
    const list = names.map((n, i) => ({ name: n, node: dirNode(i) }));
    const view = IndexView.scan(encodeIndex(sortEntries(list)));
    assert.equal(view.count, list.length);
    for (const e of list) assert.deepEqual(view.lookup(e.name)?.node, e.node);
  }), { numRuns: 200 });
});

test('a deriver name may be as long as Nix allows (211 characters), not longer', () => {
  const info = curlNixInfo();
  const withDeriver = (name: string): unknown => ({ ...info, narinfo: { ...info.narinfo!, deriver: { digest: new Uint8Array(20), name } } });
  const ok = (nix: unknown): void => { encodeIndex([{ name: enc('a'), node: dirNode(1), nix } as IndexEntry]); };
  ok(withDeriver(`${'a'.repeat(207)}.drv`));
  assert.equal(reason(() => ok(withDeriver(`${'a'.repeat(208)}.drv`))), 'BAD_NIX_INFO');
});
