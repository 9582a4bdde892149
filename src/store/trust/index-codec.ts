// Building an Index (entries sorted and checked, canonical bytes) and reading one entry
// back out of Index bytes at a known offset, as lookups do.

import {
  type Node, InvalidDirectoryError, compareNames, decodeNode, showName, validateName, validateNode,
} from '../castore/index.js';
import { InvalidIndexError } from './errors.js';
import type { IndexEntry } from './index-model.js';
import { decodeNixInfo, writeNixInfo } from './nix-info.js';
import { WIRE_LEN, WireError, WireReader, WireWriter } from './wire.js';

/** Entries in name order (bytewise). Throws InvalidIndexError DUPLICATE_NAME if two share a name. */
export function sortEntries(entries: Iterable<IndexEntry>): IndexEntry[] {
  const sorted = [...entries].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < sorted.length; i++) {
    if (compareNames(sorted[i - 1]!.name, sorted[i]!.name) === 0) {
      throw new InvalidIndexError('DUPLICATE_NAME', `name ${showName(sorted[i]!.name)} appears twice`, i, -1);
    }
  }
  return sorted;
}

/** Writes the canonical IndexEntry body of `entry` to `w`; validates name, node (anonymous) and Nix metadata. */
function writeEntry(w: WireWriter, entry: IndexEntry, entryNo: number): void {
  try {
    validateName(entry.name);
  } catch (err: unknown) {
    throw new InvalidIndexError('BAD_NAME', err instanceof Error ? err.message : String(err), entryNo, -1, { cause: err });
  }
  try {
    validateNode(entry.node, { anonymous: true });
  } catch (err: unknown) {
    throw new InvalidIndexError('BAD_NODE', err instanceof Error ? err.message : String(err), entryNo, -1, { cause: err });
  }
  w.bytesField(1, entry.name);
  const node = w.begin(2);
  writeNode(w, entry.node);
  w.end(node);
  if (entry.nix !== undefined) {
    const nix = w.begin(3);
    writeNixInfo(w, entry.nix);
    w.end(nix);
  }
}

/** castore's canonical Node (codec.ts writes the same bytes; a test holds them equal). */
function writeNode(w: WireWriter, node: Node): void {
  if ('directory' in node) {
    const m = w.begin(1);
    w.bytesField(1, node.directory.name);
    w.bytesField(2, node.directory.digest);
    w.uint64Field(3, node.directory.size);
    w.end(m);
  } else if ('file' in node) {
    const m = w.begin(2);
    w.bytesField(1, node.file.name);
    w.bytesField(2, node.file.digest);
    w.uint64Field(3, node.file.size);
    w.boolField(4, node.file.executable);
    w.end(m);
  } else {
    const m = w.begin(3);
    w.bytesField(1, node.symlink.name);
    w.bytesField(2, node.symlink.target);
    w.end(m);
  }
}

/** One entry's canonical IndexEntry encoding (the body, without the Index's field tag). */
export function encodeEntry(entry: IndexEntry, entryNo = -1): Uint8Array {
  const w = new WireWriter(entry.name.length + 128);
  writeEntry(w, entry, entryNo);
  return w.finish();
}

/**
 * The canonical Index bytes of `entries`, which must already be strictly ascending by
 * name (sortEntries makes them so). What scanIndex accepts is exactly what this writes.
 */
export function encodeIndex(entries: readonly IndexEntry[]): Uint8Array {
  const w = new WireWriter(Math.max(256, entries.length * 128));
  entries.forEach((entry, i) => {
    if (i > 0) {
      const order = compareNames(entries[i - 1]!.name, entry.name);
      if (order >= 0) {
        throw new InvalidIndexError(order === 0 ? 'DUPLICATE_NAME' : 'UNSORTED', `entry ${showName(entry.name)} is not above the one before it`, i, -1);
      }
    }
    const m = w.begin(1);
    writeEntry(w, entry, i);
    w.end(m);
  });
  return w.finish();
}

/** The entry that starts at `start` (an IndexEntry field of the Index) and its extent. */
function entrySpan(bytes: Uint8Array, start: number, end: number): WireReader {
  const r = new WireReader(bytes, start, end);
  if (!r.next(1, WIRE_LEN)) r.fail('not an index entry');
  const span = r.lengthDelimited();
  return new WireReader(bytes, span.start, span.end);
}

/** Where the IndexEntry field that starts at `start` ends. Throws WireError if there is none. */
export function entrySpanEnd(bytes: Uint8Array, start: number): number {
  return entrySpan(bytes, start, bytes.length).limit;
}

/**
 * The name of the entry at `start`, as a view into `bytes`. `end` bounds the read (the
 * next entry's offset). Assumes scanIndex accepted the bytes; throws WireError otherwise.
 */
export function entryNameAt(bytes: Uint8Array, start: number, end = bytes.length): Uint8Array {
  const e = entrySpan(bytes, start, end);
  if (!e.next(1, WIRE_LEN)) e.fail('entry has no name');
  return e.readBytes();
}

/**
 * Only the node of the entry at `bytes[start..end)`, decoded and validated; its Nix
 * metadata is not read (what the garbage collector needs, whatever that metadata holds).
 */
export function entryNodeAt(bytes: Uint8Array, start: number, end: number, entryNo = -1): Node {
  let nodeBytes: Uint8Array;
  try {
    const e = entrySpan(bytes, start, end);
    if (!e.next(1, WIRE_LEN)) e.fail('entry has no name');
    e.readBytes();
    if (!e.next(2, WIRE_LEN)) e.fail('entry has no node');
    nodeBytes = e.readBytes();
  } catch (err: unknown) {
    if (err instanceof WireError) throw new InvalidIndexError('MALFORMED', err.detail, entryNo, err.offset, { cause: err });
    throw err;
  }
  try {
    return copyNode(decodeNode(nodeBytes, { anonymous: true }));
  } catch (err: unknown) {
    if (err instanceof InvalidDirectoryError) throw new InvalidIndexError('BAD_NODE', err.message, entryNo, start, { cause: err });
    throw err;
  }
}

/**
 * Decodes the entry at `bytes[start..end)` fully (name, node, Nix metadata with every
 * tvix check). Byte fields are copies. Throws InvalidIndexError.
 */
export function decodeEntryAt(bytes: Uint8Array, start: number, end: number, entryNo = -1): IndexEntry {
  let name: Uint8Array;
  let nodeBytes: Uint8Array;
  let nix: { start: number; end: number } | undefined;
  try {
    const e = entrySpan(bytes, start, end);
    if (!e.next(1, WIRE_LEN)) e.fail('entry has no name');
    name = e.nonEmptyBytes().slice();
    if (!e.next(2, WIRE_LEN)) e.fail('entry has no node');
    nodeBytes = e.readBytes();
    if (e.next(3, WIRE_LEN)) nix = e.lengthDelimited();
    e.expectEnd();
  } catch (err: unknown) {
    if (err instanceof WireError) throw new InvalidIndexError('MALFORMED', err.detail, entryNo, err.offset, { cause: err });
    throw err;
  }
  let node: Node;
  try {
    validateName(name);
  } catch (err: unknown) {
    throw new InvalidIndexError('BAD_NAME', err instanceof Error ? err.message : String(err), entryNo, start, { cause: err });
  }
  try {
    node = copyNode(decodeNode(nodeBytes, { anonymous: true }));
  } catch (err: unknown) {
    if (err instanceof InvalidDirectoryError) throw new InvalidIndexError('BAD_NODE', err.message, entryNo, start, { cause: err });
    throw err;
  }
  const entry: IndexEntry = { name, node };
  if (nix === undefined) return entry;
  return { ...entry, nix: decodeNixInfo(bytes, nix.start, nix.end, entryNo) };
}

/** The protons decoder hands out views into the Index bytes; entries outlive them. */
function copyNode(node: Node): Node {
  if ('directory' in node) return { directory: { ...node.directory, digest: node.directory.digest.slice() } };
  if ('file' in node) return { file: { ...node.file, digest: node.file.digest.slice() } };
  return { symlink: { ...node.symlink, target: node.symlink.target.slice() } };
}
