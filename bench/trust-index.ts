// Synthetic Indexes for bench:trust: Nix-shaped entries (store path basenames, a
// Directory or file node, NixInfo with references, a narinfo signature and a deriver),
// or the same names with nodes only.

import { randomFillSync } from 'node:crypto';
import type { Node } from '../src/store/index.js';
import { type IndexEntry, type NixInfo, encodeIndex, sortEntries } from '../src/store/index.js';
import { nix32Encode } from '../src/verify/index.js';

const PACKAGES = ['glibc', 'hello', 'curl', 'openssl', 'python3', 'gcc', 'bash', 'coreutils', 'zlib', 'perl', 'rustc', 'nodejs'];

function storePathBasename(digest: Uint8Array, i: number): string {
  return `${nix32Encode(digest)}-${PACKAGES[i % PACKAGES.length]}-${1 + (i % 7)}.${i % 31}.${i % 5}`;
}

/** Random bytes from one big pool: a randomBytes call per field would dominate building 100,000 entries. */
class RandomPool {
  #pool = new Uint8Array(0);
  #at = 0;
  take(n: number): Uint8Array {
    if (this.#at + n > this.#pool.length) {
      this.#pool = randomFillSync(new Uint8Array(16 << 20));
      this.#at = 0;
    }
    const out = this.#pool.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
}

/** `count` entries with distinct names; `nix` adds Nix metadata to each (1 to 6 references). */
export function makeEntries(count: number, nix: boolean): IndexEntry[] {
  const pool = new RandomPool();
  const randomBytes = (n: number): Uint8Array => pool.take(n);
  const digests = Array.from({ length: count }, () => randomBytes(20));
  const names = digests.map((d, i) => storePathBasename(d, i));
  const enc = new TextEncoder();
  return names.map((name, i) => {
    const node: Node = i % 4 === 3
      ? { file: { name: new Uint8Array(0), digest: randomBytes(32), size: BigInt(1000 + i), executable: i % 8 === 7 } }
      : { directory: { name: new Uint8Array(0), digest: randomBytes(32), size: BigInt(3 + (i % 200)) } };
    if (!nix) return { name: enc.encode(name), node };
    const refs = Array.from({ length: 1 + (i % 6) }, (_, k) => (i * 7 + k * 13) % count);
    const info: NixInfo = {
      references: refs.map((r) => digests[r]!),
      narinfo: {
        narSize: BigInt(4096 + i * 17),
        narSha256: randomBytes(32),
        signatures: [{ name: 'cache.example.org-1', data: randomBytes(64) }],
        referenceNames: refs.map((r) => names[r]!),
        deriver: { name: `${PACKAGES[i % PACKAGES.length]}-${i % 9}.drv`, digest: randomBytes(20) },
      },
    };
    return { name: enc.encode(name), node, nix: info };
  });
}

/** Canonical Index bytes of `entries` (sorted here). */
export function makeIndex(entries: IndexEntry[]): { sorted: IndexEntry[]; bytes: Uint8Array } {
  const sorted = sortEntries(entries);
  return { sorted, bytes: encodeIndex(sorted) };
}
