// Shared pieces of the trust tests: keys, entries, signed roots over encoded indexes,
// and a real cache.nixos.org narinfo as an entry's Nix metadata.

import { blake3 } from '../../../src/verify/blake3/index.js';
import { type SecretKey, generateKeyPair } from '../../../src/verify/keys.js';
import { nix32Decode } from '../../../src/verify/nix-fingerprint.js';
import type { Node } from '../../../src/store/castore/index.js';
import type { Digest } from '../../../src/store/digest.js';
import { type IndexEntry, type NixInfo, type SignedRoot, encodeEntry, encodeIndex, signRoot, sortEntries } from '../../../src/store/trust/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const EMPTY = new Uint8Array(0);

export function digestOf(seed: number): Uint8Array {
  return blake3(enc(`seed ${seed}`));
}

export function dirNode(seed: number, size = 3n): Node {
  return { directory: { name: EMPTY, digest: digestOf(seed), size } };
}

export function fileNode(seed: number, size = 10n, executable = false): Node {
  return { file: { name: EMPTY, digest: digestOf(seed), size, executable } };
}

export function symlinkNode(target: string): Node {
  return { symlink: { name: EMPTY, target: enc(target) } };
}

export function entries(names: string[]): IndexEntry[] {
  return names.map((n, i) => ({ name: enc(n), node: i % 3 === 2 ? symlinkNode(`/target/${n}`) : i % 2 === 0 ? dirNode(i) : fileNode(i, BigInt(i), i % 4 === 1) }));
}

export function indexOf(list: IndexEntry[]): Uint8Array {
  return encodeIndex(sortEntries(list));
}

export interface RootOptions { sequence?: bigint; timestamp?: bigint; expires?: bigint }

/** A root over `index` signed by `secret`; sequence 1, timestamp 1000, no expiry unless given. */
export function rootOver(secret: SecretKey, index: Uint8Array, o: RootOptions = {}): SignedRoot {
  return signRoot(secret, {
    indexDigest: blake3(index) as Digest,
    indexSize: BigInt(index.length),
    sequence: o.sequence ?? 1n,
    timestamp: o.timestamp ?? 1000n,
    expires: o.expires ?? 0n,
  });
}

export const NOW = 2000n;

export function keys(name = 'test.example-1'): ReturnType<typeof generateKeyPair> {
  return generateKeyPair(name);
}

// Real data: the cache.nixos.org narinfo of curl-7.82.0-bin, copied from tvix
// (nix-compat/src/narinfo/fingerprint.rs at 6932a578), as test/verify/nix-fingerprint.test.ts uses it.
export const CURL_NAME = 'syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin';
export const CURL_NAR_HASH = '1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0';
export const CURL_NAR_SIZE = 196040n;
export const CURL_REFS = [
  '0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0',
  '6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115',
  'j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12',
  'yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n',
];
export const CURL_DERIVER = '5rwxzi7pal3qhpsyfc16gzkh939q1np6-curl-7.82.0.drv';
export const CURL_SIG = 'cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==';
export const CACHE_NIXOS_ORG_KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=';

const nix32 = (text: string, bytes: number): Uint8Array => {
  const out = nix32Decode(text, bytes);
  if (out === undefined) throw new Error(`bad nix32 ${text}`);
  return out;
};

export function curlNixInfo(): NixInfo {
  const [sigName, sigB64] = CURL_SIG.split(':') as [string, string];
  return {
    references: CURL_REFS.map((r) => nix32(r.slice(0, 32), 20)),
    narinfo: {
      narSize: CURL_NAR_SIZE,
      narSha256: nix32(CURL_NAR_HASH, 32),
      signatures: [{ name: sigName, data: new Uint8Array(Buffer.from(sigB64, 'base64')) }],
      referenceNames: CURL_REFS,
      deriver: { name: CURL_DERIVER.slice(33), digest: nix32(CURL_DERIVER.slice(0, 32), 20) },
    },
  };
}

/** One entry as an Index field (tag, length, body), for building Indexes out of order. */
export function encodeEntryRaw(name: string, seed = 1): Uint8Array {
  const body = encodeEntry({ name: enc(name), node: dirNode(seed) });
  return Uint8Array.from([0x0a, body.length, ...body]);
}
