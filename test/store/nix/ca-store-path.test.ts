// Content-addressed store paths against paths real Nix 2.8 made (nix eval builtins.toFile,
// nix-store --add-fixed [--recursive] sha256/sha1), and the trust decision built on them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { caStorePath, checkCaStorePath, ContentAddressMismatchError, parseContentAddress, pathTrust, UntrustedPathError } from '../../../src/store/nix/index.js';

const A = '/nix/store/12wigjpizrn8axaqxj288q1b751qmwya-a';
const B = '/nix/store/sb80f4r4j02r89capbmrl04qp7kqrqrl-b';

// [store path, CA, references], each printed by `nix path-info --json`.
const VECTORS: readonly (readonly [string, string, readonly string[]])[] = [
  [A, 'text:sha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d', []],
  [B, 'text:sha256:0vavd7g1bbg9sa4nnmzb3k799gyj1f1dcfz668qjzjigrcz9xqg5', [A]],
  ['/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt', 'fixed:sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq', []],
  ['/nix/store/svdva85yi507g9vncgsaxvnd1r808h4w-hello.txt', 'fixed:sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm', []],
  ['/nix/store/yw1bygsq1ba160j6w20i6rg6iahxxqdc-d', 'fixed:r:sha256:1mh6p1ljhrgmvffjynxays2iv6x7v56ivaxgdnip8j97ycvz2wjc', []],
  ['/nix/store/sb65wgbv8sycbfxjwsk5bxwj69vangsh-d', 'fixed:r:sha1:0s9bhvbfl8qfm6frlvaw2056z8svg61b', []],
];

describe('caStorePath', () => {
  it('gives the store path Nix gave, for text, flat and recursive CAs', () => {
    for (const [path, ca, refs] of VECTORS) {
      const name = path.slice(44);
      assert.equal(caStorePath(name, parseContentAddress(ca), refs, path), path, ca);
      checkCaStorePath({ storePath: path, ca, references: refs });
    }
  });

  it('refuses a CA that gives another path: other name, other references, other hash', () => {
    const [path, ca] = VECTORS[1]!;
    assert.throws(() => checkCaStorePath({ storePath: path, ca, references: [] }), ContentAddressMismatchError);
    assert.throws(() => checkCaStorePath({ storePath: `${path.slice(0, 44)}c`, ca, references: [A] }), ContentAddressMismatchError);
    assert.throws(() => checkCaStorePath({ storePath: path, ca: VECTORS[0]![1], references: [A] }), ContentAddressMismatchError);
  });

  it('refuses references a CA of that kind cannot have', () => {
    const [path, ca] = VECTORS[2]!;
    assert.throws(() => checkCaStorePath({ storePath: path, ca, references: [A] }), /cannot have references/u);
    assert.throws(() => checkCaStorePath({ storePath: A, ca: VECTORS[0]![1], references: [A] }), /cannot refer to itself/u);
  });
});

describe('pathTrust', () => {
  const base = { narHash: new Uint8Array(32), narSize: 120, signatures: [] as string[] };
  it('takes a CA path whose CA gives its name, refuses one that does not, and an input-addressed path without a key', () => {
    const t = pathTrust({ ...base, storePath: B, references: [A], ca: VECTORS[1]![1] }, [], true);
    assert.equal(t.by, 'content-address');
    assert.throws(() => pathTrust({ ...base, storePath: B, references: [], ca: VECTORS[1]![1] }, [], true), UntrustedPathError);
    assert.throws(() => pathTrust({ ...base, storePath: B, references: [A] }, [], true), /no signature and no content address/u);
    assert.equal(pathTrust({ ...base, storePath: B, references: [A] }, [], false).by, 'unchecked');
  });
});
