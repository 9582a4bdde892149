// A PathInfo as bytes to send: an Index (protos/index.proto) of exactly one entry, named
// by the store path's base name, in canonical form: the bytes the PathInfo store keeps
// after its magic, and what a publisher's Index holds for the path.

import { decodeEntryAt, encodeIndex, scanIndex } from '../trust/index.js';
import { fromIndexEntry, InvalidPathInfoError, type PathInfo, toIndexEntry } from './path-info.js';

/** The canonical one-entry Index of `info`, which must have its root node. */
export function encodePathInfo(info: PathInfo): Uint8Array {
  return encodeIndex([toIndexEntry(info)]);
}

/**
 * The PathInfo in `bytes`, a canonical Index of exactly one entry with Nix metadata.
 * Throws InvalidIndexError (bytes not canonical) or InvalidPathInfoError.
 */
export function decodePathInfo(bytes: Uint8Array): PathInfo {
  // offsets[i] is where entry i starts, then the end: one entry is two offsets.
  const offsets = scanIndex(bytes);
  if (offsets.length !== 2) throw new InvalidPathInfoError(`an Index of ${offsets.length - 1} entries, not 1`, offsets.length - 1);
  return fromIndexEntry(decodeEntryAt(bytes, offsets[0]!, offsets[1]!));
}
