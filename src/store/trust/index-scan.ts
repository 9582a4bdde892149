// The one pass that checks an Index blob before anything trusts it: canonical framing,
// every entry's name (valid, strictly ascending, so sorted and unique), its anonymous
// castore Node, and the shape of its Nix metadata; it records where each entry starts,
// so later lookups binary-search by name instead of parsing the Index again.
//
// Written as a flat loop over the bytes with no allocation per entry: for a 100,000-entry
// Index it must cost less than hashing the same bytes (bench/trust.ts).

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
const SLASH = 0x2f;
const DOT = 0x2e;

// The scan's cursor and the entry being checked, shared by the helpers below so the hot
// loop passes no objects around. Only scanIndex sets them; it is synchronous.
let at = 0;
let entryNo = 0;

function fail(reason: InvalidIndexReason, detail: string): never {
  throw new InvalidIndexError(reason, detail, entryNo, at);
}

/** A length varint at `at` (canonical: minimal), advanced past; the body must fit before `end`. */
function len(b: Uint8Array, end: number, reason: InvalidIndexReason): number {
  let n = 0;
  let shift = 0;
  for (;;) {
    if (at >= end) fail(reason, 'truncated length');
    const byte = b[at++]!;
    n += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      if (byte === 0 && shift > 0) fail(reason, 'non-minimal varint');
      break;
    }
    shift += 7;
    if (shift > 28) fail(reason, 'length too large');
  }
  if (n > end - at) fail(reason, 'length runs past the end of its message');
  return n;
}

/** A non-zero canonical uint64 varint at `at` (a zero would not have been written), skipped. */
function uint64(b: Uint8Array, end: number, reason: InvalidIndexReason): void {
  for (let i = 0; i < 10; i++) {
    if (at >= end) fail(reason, 'truncated varint');
    const byte = b[at++]!;
    if (byte < 0x80) {
      if (byte === 0) fail(reason, i === 0 ? 'zero written for a uint64 field' : 'non-minimal varint');
      if (i === 9 && byte > 1) fail(reason, 'varint exceeds uint64');
      return;
    }
  }
  fail(reason, 'varint exceeds uint64');
}

/** A 32-byte digest field `tag` (required). */
function digest32(b: Uint8Array, end: number, reason: InvalidIndexReason, what: string): void {
  if (at + 34 > end || b[at] !== T2_LEN || b[at + 1] !== 32) fail(reason, `${what} digest missing or not 32 bytes`);
  at += 34;
}

/** The entry's Node: exactly one anonymous DirectoryNode, FileNode or SymlinkNode, canonical. */
function node(b: Uint8Array, end: number): void {
  if (at >= end) fail('BAD_NODE', 'node is none of directory, file or symlink');
  const kind = b[at++];
  if (kind !== T1_LEN && kind !== T2_LEN && kind !== T3_LEN) fail('BAD_NODE', `unexpected node field (tag ${kind})`);
  const n = len(b, end, 'BAD_NODE');
  if (at + n !== end) fail('BAD_NODE', 'more than one node set');
  if (at < end && b[at] === T1_LEN) fail('BAD_NODE', 'a root node must have an empty name');
  if (kind === T3_LEN) {
    if (at >= end || b[at] !== T2_LEN) fail('BAD_NODE', 'symlink target is empty');
    at++;
    const t = len(b, end, 'BAD_NODE');
    if (t > MAX_TARGET_LENGTH) fail('BAD_NODE', `symlink target is ${t} bytes, over ${MAX_TARGET_LENGTH}`);
    for (let i = at; i < at + t; i++) if (b[i] === 0) fail('BAD_NODE', 'symlink target contains a NUL byte');
    at += t;
  } else {
    digest32(b, end, 'BAD_NODE', kind === T1_LEN ? 'directory' : 'file');
    if (at < end && b[at] === T3_VARINT) { at++; uint64(b, end, 'BAD_NODE'); }
    if (kind === T2_LEN && at < end && b[at] === T4_VARINT) {
      if (at + 2 > end || b[at + 1] !== 1) fail('BAD_NODE', 'executable is not a canonical true');
      at += 2;
    }
  }
  if (at !== end) fail('BAD_NODE', 'unknown, repeated or out-of-order field in node');
}

/** A non-empty bytes/string field with `tag` at `at`, optionally of an exact length; false if the next field is another. */
function lenField(b: Uint8Array, end: number, tag: number, exact: number): boolean {
  if (at >= end || b[at] !== tag) return false;
  at++;
  const n = len(b, end, 'BAD_NIX_INFO');
  if (n === 0) fail('BAD_NIX_INFO', `empty field (tag ${tag}) written`);
  if (exact > 0 && n !== exact) fail('BAD_NIX_INFO', `field (tag ${tag}) is ${n} bytes, not ${exact}`);
  at += n;
  return true;
}

/** NARInfo.Signature or StorePath: string field 1, bytes field 2 of an exact length, both required. */
function namedBytes(b: Uint8Array, end: number, exact: number, what: string): void {
  if (!lenField(b, end, T1_LEN, 0)) fail('BAD_NIX_INFO', `${what} has no name`);
  if (!lenField(b, end, T2_LEN, exact)) fail('BAD_NIX_INFO', `${what} has no ${exact}-byte digest`);
  if (at !== end) fail('BAD_NIX_INFO', `unknown, repeated or out-of-order field in ${what}`);
}

/** The NARInfo message body [at, end); returns how many reference names it lists. */
function narinfo(b: Uint8Array, end: number): number {
  if (at < end && b[at] === T1_VARINT) { at++; uint64(b, end, 'BAD_NIX_INFO'); }
  if (!lenField(b, end, T2_LEN, NAR_SHA256_BYTES)) fail('BAD_NIX_INFO', 'nar_sha256 missing');
  while (at < end && b[at] === T3_LEN) {
    at++;
    const n = len(b, end, 'BAD_NIX_INFO');
    namedBytes(b, at + n, NAR_SIGNATURE_BYTES, 'signature');
  }
  let names = 0;
  while (lenField(b, end, T4_LEN, 0)) names++;
  if (at < end && b[at] === T5_LEN) {
    at++;
    const n = len(b, end, 'BAD_NIX_INFO');
    namedBytes(b, at + n, STORE_PATH_DIGEST_BYTES, 'deriver');
  }
  if (at < end && b[at] === T6_LEN) {
    at++;
    const n = len(b, end, 'BAD_NIX_INFO');
    const caEnd = at + n;
    let type = 0;
    if (at < caEnd && b[at] === T1_VARINT) {
      at++;
      if (at >= caEnd) fail('BAD_NIX_INFO', 'truncated ca type');
      type = b[at++]!;
      if (type === 0 || type >= CA_DIGEST_BYTES.length) fail('BAD_NIX_INFO', `ca type ${type} is unknown or not canonical`);
    }
    if (!lenField(b, caEnd, T2_LEN, CA_DIGEST_BYTES[type]!)) fail('BAD_NIX_INFO', 'ca digest missing');
    if (at !== caEnd) fail('BAD_NIX_INFO', 'unknown, repeated or out-of-order field in ca');
  }
  if (at !== end) fail('BAD_NIX_INFO', 'unknown, repeated or out-of-order field in narinfo');
  return names;
}

/** NixInfo [at, end): 20-byte references, then an optional NARInfo whose reference names match them in number. */
function nixInfo(b: Uint8Array, end: number): void {
  let refs = 0;
  while (lenField(b, end, T2_LEN, STORE_PATH_DIGEST_BYTES)) refs++;
  if (at < end && b[at] === T3_LEN) {
    at++;
    const n = len(b, end, 'BAD_NIX_INFO');
    const names = narinfo(b, at + n);
    if (names !== refs) fail('BAD_NIX_INFO', `${names} reference names for ${refs} references`);
  }
  if (at !== end) fail('BAD_NIX_INFO', 'unknown, repeated or out-of-order field in nix info');
}

/**
 * Checks a whole Index and returns where each entry starts: `offsets[i]` for entry i,
 * and `offsets[count]` = bytes.length. Throws InvalidIndexError (with the entry number and
 * byte offset) at the first rule broken. Does not check UTF-8 of Nix strings or that
 * reference names match their digests; decodeNixInfo does, when an entry is read.
 */
export function scanIndex(bytes: Uint8Array): Uint32Array {
  at = 0;
  entryNo = 0;
  if (bytes.length > MAX_INDEX_BYTES) fail('TOO_LARGE', `index is ${bytes.length} bytes, over ${MAX_INDEX_BYTES}`);
  const b = bytes;
  const total = b.length;
  let offsets = new Uint32Array(Math.max(16, (total / 96) | 0));
  let prevStart = 0;
  let prevLen = -1;
  while (at < total) {
    if (entryNo + 1 >= offsets.length) {
      const grown = new Uint32Array(offsets.length * 2);
      grown.set(offsets);
      offsets = grown;
    }
    offsets[entryNo] = at;
    if (b[at] !== T1_LEN) fail('MALFORMED', `unexpected field (tag ${b[at]}) in index`);
    at++;
    const entryLen = len(b, total, 'MALFORMED');
    const end = at + entryLen;

    // Name: 1..255 bytes, not "." or "..", no "/" or NUL, above the previous name.
    if (at >= end || b[at] !== T1_LEN) fail('BAD_NAME', 'entry has no name');
    at++;
    const nameLen = len(b, end, 'BAD_NAME');
    const name = at;
    if (nameLen === 0) fail('BAD_NAME', 'empty name written');
    if (nameLen > MAX_NAME_LENGTH) fail('BAD_NAME', `name is ${nameLen} bytes, over ${MAX_NAME_LENGTH}`);
    for (let i = name; i < name + nameLen; i++) {
      const c = b[i]!;
      if (c === SLASH || c === 0) fail('BAD_NAME', c === 0 ? 'name contains a NUL byte' : 'name contains "/"');
    }
    if (b[name] === DOT && (nameLen === 1 || (nameLen === 2 && b[name + 1] === DOT))) fail('BAD_NAME', 'name is "." or ".."');
    if (prevLen >= 0) {
      const n = nameLen < prevLen ? nameLen : prevLen;
      let i = 0;
      while (i < n && b[name + i] === b[prevStart + i]) i++;
      const order = i < n ? b[name + i]! - b[prevStart + i]! : nameLen - prevLen;
      if (order <= 0) fail(order === 0 ? 'DUPLICATE_NAME' : 'UNSORTED', order === 0 ? 'name appears twice' : 'names are not in ascending bytewise order');
    }
    prevStart = name;
    prevLen = nameLen;
    at = name + nameLen;

    if (at >= end || b[at] !== T2_LEN) fail('BAD_NODE', 'entry has no node');
    at++;
    const nodeLen = len(b, end, 'BAD_NODE');
    node(b, at + nodeLen);

    if (at < end && b[at] === T3_LEN) {
      at++;
      const nixLen = len(b, end, 'BAD_NIX_INFO');
      nixInfo(b, at + nixLen);
    }
    if (at !== end) fail('MALFORMED', 'unknown, repeated or out-of-order field in entry');
    entryNo++;
  }
  offsets[entryNo] = total;
  return offsets.slice(0, entryNo + 1);
}
