// Nix metadata of an index entry (tvix's PathInfo without its node): canonical encoding,
// and a strict decoder that checks everything tvix's PathInfo validation does, including
// what the index scan leaves for read time (UTF-8, reference names matching digests).

import { nix32Decode } from '../../verify/index.js';
import { InvalidIndexError } from './errors.js';
import {
  type ContentAddress, type NarInfo, type NarSignature, type NixInfo, type StorePathRef,
  CA_DIGEST_BYTES, NAR_SHA256_BYTES, NAR_SIGNATURE_BYTES, STORE_PATH_DIGEST_BYTES,
} from './index-model.js';
import { WIRE_LEN, WIRE_VARINT, WireError, WireReader, WireWriter } from './wire.js';

/** Store path basenames: 32 nixbase32 characters, '-', then a name of Nix's store path characters. */
const STORE_PATH_BASENAME = /^([0-9a-df-np-sv-z]{32})-([A-Za-z0-9+\-._?=]{1,211})$/u;
const STORE_PATH_NAME = /^[A-Za-z0-9+\-._?=]{1,211}$/u;

function writeNarInfo(w: WireWriter, n: NarInfo): void {
  w.uint64Field(1, n.narSize);
  w.bytesField(2, n.narSha256);
  for (const s of n.signatures) {
    const m = w.begin(3);
    w.stringField(1, s.name);
    w.bytesField(2, s.data);
    w.end(m);
  }
  for (const r of n.referenceNames) w.stringField(4, r);
  if (n.deriver !== undefined) {
    const m = w.begin(5);
    w.stringField(1, n.deriver.name);
    w.bytesField(2, n.deriver.digest);
    w.end(m);
  }
  if (n.ca !== undefined) {
    const m = w.begin(6);
    if (n.ca.type !== 0) { w.varint(0x08); w.varint(n.ca.type); }
    w.bytesField(2, n.ca.digest);
    w.end(m);
  }
}

/** Writes the canonical NixInfo body (protos/index.proto) to `w`. Validates first: throws InvalidIndexError BAD_NIX_INFO. */
export function writeNixInfo(w: WireWriter, info: NixInfo): void {
  checkNixInfo(info);
  for (const r of info.references) w.bytesField(2, r);
  if (info.narinfo !== undefined) {
    const m = w.begin(3);
    writeNarInfo(w, info.narinfo);
    w.end(m);
  }
}

/** The canonical encoding of `info` on its own. */
export function encodeNixInfo(info: NixInfo): Uint8Array {
  const w = new WireWriter(64 + info.references.length * 80);
  writeNixInfo(w, info);
  return w.finish();
}

function bad(detail: string): never {
  throw new InvalidIndexError('BAD_NIX_INFO', detail, -1, -1);
}

function bytesOf(b: unknown, length: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== length) bad(`${what} is not ${length} bytes`);
}

/** tvix's PathInfo::validate rules (node aside). Throws InvalidIndexError BAD_NIX_INFO. */
export function checkNixInfo(info: NixInfo): void {
  info.references.forEach((r, i) => bytesOf(r, STORE_PATH_DIGEST_BYTES, `reference ${i}`));
  const n = info.narinfo;
  if (n === undefined) return;
  if (typeof n.narSize !== 'bigint' || n.narSize < 0n || n.narSize >= 1n << 64n) bad('nar size is not a uint64');
  bytesOf(n.narSha256, NAR_SHA256_BYTES, 'nar_sha256');
  for (const s of n.signatures) {
    if (typeof s.name !== 'string' || s.name.length === 0) bad('signature has no key name');
    bytesOf(s.data, NAR_SIGNATURE_BYTES, `signature ${s.name}`);
  }
  if (n.referenceNames.length !== info.references.length) {
    bad(`${n.referenceNames.length} reference names for ${info.references.length} references`);
  }
  n.referenceNames.forEach((name, i) => {
    const m = STORE_PATH_BASENAME.exec(name);
    if (m === null) bad(`reference name ${JSON.stringify(name)} is not a store path basename`);
    const digest = nix32Decode(m[1]!, STORE_PATH_DIGEST_BYTES);
    const ref = info.references[i]!;
    if (digest === undefined || digest.some((byte, j) => byte !== ref[j])) {
      bad(`reference name ${JSON.stringify(name)} does not match reference digest ${i}`);
    }
  });
  if (n.deriver !== undefined) {
    if (!STORE_PATH_NAME.test(n.deriver.name) || !n.deriver.name.endsWith('.drv')) bad(`deriver name ${JSON.stringify(n.deriver.name)} is not a .drv store path name`);
    bytesOf(n.deriver.digest, STORE_PATH_DIGEST_BYTES, 'deriver digest');
  }
  if (n.ca !== undefined) {
    const want = CA_DIGEST_BYTES[n.ca.type];
    if (!Number.isInteger(n.ca.type) || want === undefined) bad(`ca type ${n.ca.type} is unknown`);
    bytesOf(n.ca.digest, want, 'ca digest');
  }
}

function readNamedBytes(r: WireReader, what: string): { name: string; data: Uint8Array } {
  const { start, end } = r.lengthDelimited();
  const m = new WireReader(r.bytes, start, end);
  if (!m.next(1, WIRE_LEN)) m.fail(`${what} has no name`);
  const name = m.readString();
  if (!m.next(2, WIRE_LEN)) m.fail(`${what} has no bytes`);
  const data = m.nonEmptyBytes().slice();
  m.expectEnd();
  return { name, data };
}

function readNarInfo(r: WireReader): NarInfo {
  const { start, end } = r.lengthDelimited();
  const m = new WireReader(r.bytes, start, end);
  const narSize = m.next(1, WIRE_VARINT) ? m.nonZeroUint64() : 0n;
  const narSha256 = m.next(2, WIRE_LEN) ? m.nonEmptyBytes().slice() : new Uint8Array(0);
  const signatures: NarSignature[] = [];
  while (m.next(3, WIRE_LEN)) signatures.push(readNamedBytes(m, 'signature'));
  const referenceNames: string[] = [];
  while (m.next(4, WIRE_LEN)) referenceNames.push(m.readString());
  let deriver: StorePathRef | undefined;
  if (m.next(5, WIRE_LEN)) {
    const d = readNamedBytes(m, 'deriver');
    deriver = { name: d.name, digest: d.data };
  }
  let ca: ContentAddress | undefined;
  if (m.next(6, WIRE_LEN)) {
    const span = m.lengthDelimited();
    const c = new WireReader(m.bytes, span.start, span.end);
    const type = c.next(1, WIRE_VARINT) ? c.varint() : 0;
    if (!c.next(2, WIRE_LEN)) c.fail('ca has no digest');
    const digest = c.nonEmptyBytes().slice();
    c.expectEnd();
    ca = { type, digest };
  }
  m.expectEnd();
  return { narSize, narSha256, signatures, referenceNames, ...(deriver && { deriver }), ...(ca && { ca }) };
}

/**
 * Decodes and fully validates canonical NixInfo bytes (`bytes[start..end)`). Throws
 * InvalidIndexError BAD_NIX_INFO; `entry` and `offset` locate it in the Index.
 */
export function decodeNixInfo(bytes: Uint8Array, start = 0, end = bytes.length, entry = -1): NixInfo {
  try {
    const r = new WireReader(bytes, start, end);
    const references: Uint8Array[] = [];
    while (r.next(2, WIRE_LEN)) references.push(r.nonEmptyBytes().slice());
    const narinfo = r.next(3, WIRE_LEN) ? readNarInfo(r) : undefined;
    r.expectEnd();
    const info: NixInfo = { references, ...(narinfo && { narinfo }) };
    checkNixInfo(info);
    return info;
  } catch (err: unknown) {
    if (err instanceof WireError) throw new InvalidIndexError('BAD_NIX_INFO', `nix info: ${err.detail}`, entry, err.offset, { cause: err });
    if (err instanceof InvalidIndexError) throw new InvalidIndexError('BAD_NIX_INFO', err.message.replace(/^invalid index: | \(entry -1, byte -1\)$/gu, ''), entry, start, { cause: err });
    throw err;
  }
}
