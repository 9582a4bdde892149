// The one pass that checks an Index blob before anything trusts it: canonical framing,
// every entry's name (valid, strictly ascending, so sorted and unique), its anonymous
// castore Node, and the shape of its Nix metadata; it records where each entry starts,
// so later lookups binary-search by name instead of parsing the Index again.
//
// It must cost less than hashing the same bytes (bench/trust.ts), so it is one function
// over a local cursor: helpers return packed numbers instead of objects or shared state,
// one-byte lengths (most fields) are read inline, and nothing is allocated per entry.

import { MAX_NAME_LENGTH, MAX_TARGET_LENGTH } from '../castore/index.js';
import { InvalidIndexError, type InvalidIndexReason } from './errors.js';
import { CA_DIGEST_BYTES, MAX_INDEX_BYTES, NAR_SHA256_BYTES, NAR_SIGNATURE_BYTES, STORE_PATH_DIGEST_BYTES } from './index-model.js';

// Tags (field << 3 | wire type) of the canonical encoding.
const T1_LEN = 0x0a;
const T2_LEN = 0x12;
const T3_LEN = 0x1a;
const T4_LEN = 0x22;
const T5_LEN = 0x2a;
const T6_LEN = 0x32;
const T1_VARINT = 0x08;
const T3_VARINT = 0x18;
const T4_VARINT = 0x20;
const DOT = 0x2e;
/** Bytes a castore name may not hold: NUL (1) and "/" (2). One load per byte, no branch. */
const FORBIDDEN = new Uint8Array(256);
FORBIDDEN[0] = 1;
FORBIDDEN[0x2f] = 2;

/**
 * The length varint at `p`, which must be minimal and whose body must fit before `end`:
 * packed as `length * 8 + bytes read` (lengths stay below 2^28, MAX_INDEX_BYTES, so this
 * is a small integer), or -1 if it is truncated, non-minimal, or runs past `end`.
 */
function lenAt(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  let byte = b[p]!;
  if (byte < 0x80) return byte <= end - p - 1 ? (byte << 3) | 1 : -1;
  let n = byte & 0x7f;
  for (let i = 1; i < 4; i++) {
    if (p + i >= end) return -1;
    byte = b[p + i]!;
    n |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) return byte === 0 || n > end - p - i - 1 ? -1 : (n << 3) | (i + 1);
  }
  return -1;
}

/** Bytes of the canonical non-zero uint64 varint at `p`, or -1 (truncated, zero, non-minimal, over 64 bits). */
function uint64At(b: Uint8Array, p: number, end: number): number {
  for (let i = 0; i < 10; i++) {
    if (p + i >= end) return -1;
    const byte = b[p + i]!;
    if (byte < 0x80) return byte === 0 || (i === 9 && byte > 1) ? -1 : i + 1;
  }
  return -1;
}

function nameFault(b: Uint8Array, start: number, end: number): string {
  for (let i = start; i < end; i++) if (b[i] === 0) return 'name contains a NUL byte';
  return 'name contains "/"';
}

// Takes the cursor as arguments: a closure over it would move it out of a register.
function fail(entry: number, at: number, reason: InvalidIndexReason, detail: string): never {
  throw new InvalidIndexError(reason, detail, entry, at);
}

/**
 * A Signature or StorePath field at `p` (its tag checked by the caller): a non-empty
 * string name = 1, then bytes = 2 of exactly `exact` bytes, nothing else. Returns the
 * position after the field, or -1.
 */
function namedBytesAt(b: Uint8Array, p: number, end: number, exact: number): number {
  const v = lenAt(b, p + 1, end);
  if (v < 0) return -1;
  p += 1 + (v & 7);
  const msgEnd = p + (v >>> 3);
  if (p >= msgEnd || b[p] !== T1_LEN) return -1;
  const w = lenAt(b, p + 1, msgEnd);
  if (w <= 8) return -1;
  p += 1 + (w & 7) + (w >>> 3);
  if (p + 2 + exact !== msgEnd || b[p] !== T2_LEN || b[p + 1] !== exact) return -1;
  return msgEnd;
}

/**
 * Checks a whole Index and returns where each entry starts: `offsets[i]` for entry i,
 * and `offsets[count]` = bytes.length. Throws InvalidIndexError (with the entry number and
 * byte offset) at the first rule broken. Nix metadata is checked for its framing, digest
 * and signature lengths, and reference counts; UTF-8 of its strings and whether reference
 * names match their digests are decodeNixInfo's to check when an entry is read.
 */
export function scanIndex(bytes: Uint8Array): Uint32Array {
  const b = bytes;
  const total = b.length;
  let p = 0;
  let entry = 0;
  if (total > MAX_INDEX_BYTES) fail(0, 0, 'TOO_LARGE', `index is ${total} bytes, over ${MAX_INDEX_BYTES}`);

  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // About 100 bytes per entry at the smallest (a name and a node); doubled as needed.
  let offsets = new Uint32Array(Math.max(1024, total >>> 7));
  let prevStart = 0;
  let prevLen = -1;
  let v: number;
  while (p < total) {
    if (entry + 1 >= offsets.length) {
      const grown = new Uint32Array(offsets.length * 2);
      grown.set(offsets);
      offsets = grown;
    }
    offsets[entry] = p;
    if (b[p] !== T1_LEN) fail(entry, p, 'MALFORMED', `unexpected field (tag ${b[p]}) in index`);
    if ((v = lenAt(b, p + 1, total)) < 0) fail(entry, p, 'MALFORMED', 'bad entry length');
    p += 1 + (v & 7);
    const end = p + (v >>> 3);

    // Name: 1..255 bytes, not "." or "..", no "/" or NUL, above the previous name.
    if (p >= end || b[p] !== T1_LEN) fail(entry, p, 'BAD_NAME', 'entry has no name');
    if ((v = lenAt(b, p + 1, end)) < 0) fail(entry, p, 'BAD_NAME', 'bad name length');
    p += 1 + (v & 7);
    const name = p;
    const nameLen = v >>> 3;
    if (nameLen === 0) fail(entry, p, 'BAD_NAME', 'empty name written');
    if (nameLen > MAX_NAME_LENGTH) fail(entry, p, 'BAD_NAME', `name is ${nameLen} bytes, over ${MAX_NAME_LENGTH}`);
    // Four bytes at a time: a word has a zero byte iff (x - 0x01..) & ~x & 0x80.. is non-zero,
    // and a "/" byte iff the same holds for x ^ 0x2f2f2f2f. The tail goes byte by byte.
    let words = 0;
    let i = name;
    const stop = name + nameLen;
    for (; i + 4 <= stop; i += 4) {
      const x = view.getUint32(i, true);
      const y = x ^ 0x2f2f2f2f;
      words |= ((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y);
    }
    let forbidden = words & 0x80808080;
    for (; i < stop; i++) forbidden |= FORBIDDEN[b[i]!]!;
    if (forbidden !== 0) fail(entry, p, 'BAD_NAME', nameFault(b, name, stop));
    if (b[name] === DOT && (nameLen === 1 || (nameLen === 2 && b[name + 1] === DOT))) fail(entry, p, 'BAD_NAME', 'name is "." or ".."');
    if (prevLen >= 0) {
      const n = nameLen < prevLen ? nameLen : prevLen;
      let i = 0;
      while (i < n && b[name + i] === b[prevStart + i]) i++;
      const order = i < n ? b[name + i]! - b[prevStart + i]! : nameLen - prevLen;
      if (order <= 0) fail(entry, p, order === 0 ? 'DUPLICATE_NAME' : 'UNSORTED', order === 0 ? 'name appears twice' : 'names are not in ascending bytewise order');
    }
    prevStart = name;
    prevLen = nameLen;
    p = name + nameLen;

    // Node: exactly one anonymous DirectoryNode, FileNode or SymlinkNode, canonical.
    if (p >= end || b[p] !== T2_LEN) fail(entry, p, 'BAD_NODE', 'entry has no node');
    if ((v = lenAt(b, p + 1, end)) < 0) fail(entry, p, 'BAD_NODE', 'bad node length');
    p += 1 + (v & 7);
    const nodeEnd = p + (v >>> 3);
    const kind = b[p];
    if (p >= nodeEnd || (kind !== T1_LEN && kind !== T2_LEN && kind !== T3_LEN)) fail(entry, p, 'BAD_NODE', 'node is none of directory, file or symlink');
    if ((v = lenAt(b, p + 1, nodeEnd)) < 0 || p + 1 + (v & 7) + (v >>> 3) !== nodeEnd) fail(entry, p, 'BAD_NODE', 'bad node length, or more than one node set');
    p += 1 + (v & 7);
    if (p < nodeEnd && b[p] === T1_LEN) fail(entry, p, 'BAD_NODE', 'a root node must have an empty name');
    if (kind === T3_LEN) {
      if (p >= nodeEnd || b[p] !== T2_LEN) fail(entry, p, 'BAD_NODE', 'symlink target is empty');
      if ((v = lenAt(b, p + 1, nodeEnd)) < 0) fail(entry, p, 'BAD_NODE', 'bad symlink target length');
      p += 1 + (v & 7);
      const t = v >>> 3;
      if (t === 0) fail(entry, p, 'BAD_NODE', 'empty symlink target written');
      if (t > MAX_TARGET_LENGTH) fail(entry, p, 'BAD_NODE', `symlink target is ${t} bytes, over ${MAX_TARGET_LENGTH}`);
      for (let i = p; i < p + t; i++) if (b[i] === 0) fail(entry, p, 'BAD_NODE', 'symlink target contains a NUL byte');
      p += t;
    } else {
      if (p + 34 > nodeEnd || b[p] !== T2_LEN || b[p + 1] !== 32) fail(entry, p, 'BAD_NODE', 'node digest missing or not 32 bytes');
      p += 34;
      if (p < nodeEnd && b[p] === T3_VARINT) {
        if ((v = uint64At(b, p + 1, nodeEnd)) < 0) fail(entry, p, 'BAD_NODE', 'size is not a canonical non-zero uint64');
        p += 1 + v;
      }
      if (kind === T2_LEN && p < nodeEnd && b[p] === T4_VARINT) {
        if (p + 2 > nodeEnd || b[p + 1] !== 1) fail(entry, p, 'BAD_NODE', 'executable is not a canonical true');
        p += 2;
      }
    }
    if (p !== nodeEnd) fail(entry, p, 'BAD_NODE', 'unknown, repeated or out-of-order field in node');

    // Nix metadata: NixInfo { repeated bytes references = 2 (20 bytes); NARInfo narinfo = 3 }.
    if (p < end && b[p] === T3_LEN) {
      if ((v = lenAt(b, p + 1, end)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'bad nix info length');
      p += 1 + (v & 7);
      const nixEnd = p + (v >>> 3);
      let refs = 0;
      while (p < nixEnd && b[p] === T2_LEN) {
        if (p + 2 + STORE_PATH_DIGEST_BYTES > nixEnd || b[p + 1] !== STORE_PATH_DIGEST_BYTES) fail(entry, p, 'BAD_NIX_INFO', 'reference is not 20 bytes');
        p += 2 + STORE_PATH_DIGEST_BYTES;
        refs++;
      }
      if (p < nixEnd && b[p] === T3_LEN) {
        if ((v = lenAt(b, p + 1, nixEnd)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'bad narinfo length');
        p += 1 + (v & 7);
        const narEnd = p + (v >>> 3);
        if (p < narEnd && b[p] === T1_VARINT) {
          if ((v = uint64At(b, p + 1, narEnd)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'nar size is not a canonical non-zero uint64');
          p += 1 + v;
        }
        if (p + 2 + NAR_SHA256_BYTES > narEnd || b[p] !== T2_LEN || b[p + 1] !== NAR_SHA256_BYTES) fail(entry, p, 'BAD_NIX_INFO', 'nar_sha256 missing or not 32 bytes');
        p += 2 + NAR_SHA256_BYTES;
        while (p < narEnd && b[p] === T3_LEN) {
          if ((v = namedBytesAt(b, p, narEnd, NAR_SIGNATURE_BYTES)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'signature is not a name and 64 bytes');
          p = v;
        }
        let names = 0;
        while (p < narEnd && b[p] === T4_LEN) {
          if ((v = lenAt(b, p + 1, narEnd)) <= 8) fail(entry, p, 'BAD_NIX_INFO', 'bad or empty reference name');
          p += 1 + (v & 7) + (v >>> 3);
          names++;
        }
        if (names !== refs) fail(entry, p, 'BAD_NIX_INFO', `${names} reference names for ${refs} references`);
        if (p < narEnd && b[p] === T5_LEN) {
          if ((v = namedBytesAt(b, p, narEnd, STORE_PATH_DIGEST_BYTES)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'deriver is not a name and 20 bytes');
          p = v;
        }
        // CA { Hash type = 1; bytes digest = 2 (length by type) }.
        if (p < narEnd && b[p] === T6_LEN) {
          if ((v = lenAt(b, p + 1, narEnd)) < 0) fail(entry, p, 'BAD_NIX_INFO', 'bad ca length');
          p += 1 + (v & 7);
          const caEnd = p + (v >>> 3);
          let type = 0;
          if (p < caEnd && b[p] === T1_VARINT) {
            type = p + 1 < caEnd ? b[p + 1]! : 0;
            if (type === 0 || type >= CA_DIGEST_BYTES.length) fail(entry, p, 'BAD_NIX_INFO', `ca type ${type} is unknown or not canonical`);
            p += 2;
          }
          const want = CA_DIGEST_BYTES[type]!;
          if (p + 2 + want !== caEnd || b[p] !== T2_LEN || b[p + 1] !== want) fail(entry, p, 'BAD_NIX_INFO', `ca digest missing or not ${want} bytes, or extra fields`);
          p = caEnd;
        }
        if (p !== narEnd) fail(entry, p, 'BAD_NIX_INFO', 'unknown, repeated or out-of-order field in narinfo');
      }
      if (p !== nixEnd) fail(entry, p, 'BAD_NIX_INFO', 'unknown, repeated or out-of-order field in nix info');
    }
    if (p !== end) fail(entry, p, 'MALFORMED', 'unknown, repeated or out-of-order field in entry');
    entry++;
  }
  offsets[entry] = total;
  return offsets.slice(0, entry + 1);
}
