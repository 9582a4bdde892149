// Names of NAR files under /nar/: the ones this cache serves, `<hash part>-<narHash in
// nix32>.nar` (the store path to look up and the NAR it must render to, so no second
// index is needed), and the ones Nix uploads, `<FileHash in nix32>.nar[.xz|.zst|.bz2|.br]`.

import { type Compression, HASH_PART_LENGTH } from '../../store/index.js';
import { nix32Decode, nix32Encode } from '../../verify/index.js';

const NIX32 = '[0123456789abcdfghijklmnpqrsvwxyz]';
/** sha256 in Nix's base32: 52 characters. */
const SHA256_NIX32_LENGTH = 52;

const SERVED = new RegExp(`^(${NIX32}{${HASH_PART_LENGTH}})-(${NIX32}{${SHA256_NIX32_LENGTH}})\\.nar$`, 'u');
const UPLOADED = new RegExp(`^(${NIX32}{${SHA256_NIX32_LENGTH}})\\.nar(\\.xz|\\.zst|\\.bz2|\\.br)?$`, 'u');

/** File name extension Nix 2.8 gives each compression. */
const EXTENSIONS: Readonly<Record<string, Compression>> = { '': 'none', '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2', '.br': 'br' };

export type NarFileName =
  | { readonly kind: 'served'; readonly hashPart: string; readonly narHash: Uint8Array }
  | { readonly kind: 'uploaded'; readonly fileHash: Uint8Array; readonly compression: Compression };

/** The NAR file a name under /nar/ stands for, or undefined for any other name. */
export function parseNarFileName(name: string): NarFileName | undefined {
  const served = SERVED.exec(name);
  if (served !== null) {
    const narHash = nix32Decode(served[2]!, 32);
    return narHash === undefined ? undefined : { kind: 'served', hashPart: served[1]!, narHash };
  }
  const up = UPLOADED.exec(name);
  if (up !== null) {
    const fileHash = nix32Decode(up[1]!, 32);
    return fileHash === undefined ? undefined : { kind: 'uploaded', fileHash, compression: EXTENSIONS[up[2] ?? '']! };
  }
  return undefined;
}

/** The narinfo URL (relative to the cache) of the uncompressed NAR served for a path. */
export function servedNarUrl(hashPart: string, narHash: Uint8Array): string {
  return `nar/${hashPart}-${nix32Encode(narHash)}.nar`;
}
