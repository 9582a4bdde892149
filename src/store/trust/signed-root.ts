// SignedRoot: what a publisher signs (its Index's digest and size, a sequence, times, its
// key), the domain-separated bytes the signature covers, and the canonical protobuf form
// it travels and is stored in.

import { toHex } from '../../verify/index.js';
import {
  type PublicKey, type SecretKey, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, checkKeyName, formatPublicKey, publicKeyOf, sign, verify,
} from '../../verify/index.js';
import { DIGEST_LENGTH, type Digest, asDigest } from '../digest.js';
import { MalformedRootError } from './errors.js';
import { WIRE_LEN, WIRE_VARINT, WireError, WireReader, WireWriter } from './wire.js';

export interface RootFields {
  readonly indexDigest: Digest;
  readonly indexSize: bigint;
  /** At least 1; strictly higher for each new index of one key. */
  readonly sequence: bigint;
  /** Unix seconds at signing. */
  readonly timestamp: bigint;
  /** Unix seconds from which the root is no longer valid; 0n: never. */
  readonly expires: bigint;
  readonly keyName: string;
  readonly publicKey: Uint8Array;
}

export interface SignedRoot extends RootFields {
  readonly signature: Uint8Array;
}

/** Key names are short labels (`cache.example.org-1`); this bounds the signed message. */
export const MAX_KEY_NAME_BYTES = 255;

/**
 * Domain separator: the signature can never be taken for one over a narinfo fingerprint
 * (which starts "1;") or any other castor message, and a new layout gets a new version.
 */
export const ROOT_SIGNING_DOMAIN = 'castor signed root v1\0';

const utf8 = new TextEncoder();
const DOMAIN = utf8.encode(ROOT_SIGNING_DOMAIN);

function putUint64(view: DataView, at: number, n: bigint): void {
  view.setBigUint64(at, n, false);
}

/**
 * The bytes the signature covers, a fixed layout independent of any protobuf encoder:
 *
 *   "castor signed root v1\0"   22 bytes, the domain
 *   index digest                32 bytes
 *   index size                  u64 big-endian
 *   sequence                    u64 big-endian
 *   timestamp                   u64 big-endian (Unix seconds)
 *   expires                     u64 big-endian (Unix seconds, 0 = never)
 *   public key                  32 bytes
 *   key name length             u16 big-endian, then the name's UTF-8 bytes
 *
 * Every field is fixed-width or length-prefixed, so no two roots share these bytes.
 */
export function rootSigningBytes(root: RootFields): Uint8Array {
  checkRootFields(root);
  const name = utf8.encode(root.keyName);
  const out = new Uint8Array(DOMAIN.length + DIGEST_LENGTH + 4 * 8 + PUBLIC_KEY_BYTES + 2 + name.length);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(DOMAIN, at); at += DOMAIN.length;
  out.set(root.indexDigest, at); at += DIGEST_LENGTH;
  for (const n of [root.indexSize, root.sequence, root.timestamp, root.expires]) { putUint64(view, at, n); at += 8; }
  out.set(root.publicKey, at); at += PUBLIC_KEY_BYTES;
  view.setUint16(at, name.length, false); at += 2;
  out.set(name, at);
  return out;
}

/** Throws MalformedRootError unless the values are in range (what decode also enforces). */
export function checkRootFields(root: RootFields): void {
  const bad = (detail: string): never => { throw new MalformedRootError('root', detail); };
  if (!(root.indexDigest instanceof Uint8Array) || root.indexDigest.length !== DIGEST_LENGTH) bad('index digest is not 32 bytes');
  for (const [name, n] of [['index size', root.indexSize], ['sequence', root.sequence], ['timestamp', root.timestamp], ['expires', root.expires]] as const) {
    if (typeof n !== 'bigint' || n < 0n || n >= 1n << 64n) bad(`${name} ${String(n)} is not a uint64`);
  }
  if (root.sequence === 0n) bad('sequence is 0 (sequences start at 1)');
  if (root.expires !== 0n && root.expires <= root.timestamp) bad('expires at or before it was signed');
  if (!(root.publicKey instanceof Uint8Array) || root.publicKey.length !== PUBLIC_KEY_BYTES) bad('public key is not 32 bytes');
  try {
    checkKeyName(root.keyName);
  } catch (err: unknown) {
    bad(`key name: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (utf8.encode(root.keyName).length > MAX_KEY_NAME_BYTES) bad(`key name is over ${MAX_KEY_NAME_BYTES} bytes`);
}

/** Signs `fields` with `secret`, whose name and public key the root carries. */
export function signRoot(secret: SecretKey, fields: Omit<RootFields, 'keyName' | 'publicKey'>): SignedRoot {
  const pub = publicKeyOf(secret);
  const root: RootFields = { ...fields, keyName: pub.name, publicKey: pub.publicKey };
  const { signature } = sign(secret, rootSigningBytes(root));
  return { ...root, signature };
}

/** The key a root names, as a PublicKey (`name:base64` when formatted). */
export function rootKey(root: RootFields): PublicKey {
  return { name: root.keyName, publicKey: root.publicKey };
}

/** True iff the signature is the named key's over `rootSigningBytes` (canonical S, as Nix requires). */
export function verifyRootSignature(root: SignedRoot): boolean {
  return verify(rootKey(root), rootSigningBytes(root), { name: root.keyName, signature: root.signature });
}

/** `name:base64` of the root's key, for messages. */
export function showRootKey(root: RootFields): string {
  return formatPublicKey(rootKey(root));
}

// Field numbers of SignedRoot in protos/index.proto.
const F_DIGEST = 1, F_SIZE = 2, F_SEQUENCE = 3, F_TIMESTAMP = 4, F_EXPIRES = 5, F_KEY_NAME = 6, F_PUBLIC_KEY = 7, F_SIGNATURE = 8;

/** The canonical protobuf encoding (protos/index.proto SignedRoot). */
export function encodeSignedRoot(root: SignedRoot): Uint8Array {
  checkRootFields(root);
  if (!(root.signature instanceof Uint8Array) || root.signature.length !== SIGNATURE_BYTES) {
    throw new MalformedRootError('root', 'signature is not 64 bytes');
  }
  const w = new WireWriter(200);
  w.bytesField(F_DIGEST, root.indexDigest);
  w.uint64Field(F_SIZE, root.indexSize);
  w.uint64Field(F_SEQUENCE, root.sequence);
  w.uint64Field(F_TIMESTAMP, root.timestamp);
  w.uint64Field(F_EXPIRES, root.expires);
  w.stringField(F_KEY_NAME, root.keyName);
  w.bytesField(F_PUBLIC_KEY, root.publicKey);
  w.bytesField(F_SIGNATURE, root.signature);
  return w.finish();
}

/**
 * Decodes a SignedRoot, accepting only its canonical encoding, so a changed byte either
 * changes a signed value or is refused here. Throws MalformedRootError. Byte fields are
 * copies, not views into `bytes`.
 */
export function decodeSignedRoot(bytes: Uint8Array, what = 'signed root'): SignedRoot {
  try {
    const r = new WireReader(bytes);
    const opt = (field: number, read: () => bigint): bigint => (r.next(field, WIRE_VARINT) ? read() : 0n);
    const need = (field: number, name: string): Uint8Array => {
      if (!r.next(field, WIRE_LEN)) r.fail(`${name} (field ${field}) missing`);
      return r.nonEmptyBytes().slice();
    };
    const indexDigest = need(F_DIGEST, 'index digest');
    const indexSize = opt(F_SIZE, () => r.nonZeroUint64());
    const sequence = opt(F_SEQUENCE, () => r.nonZeroUint64());
    const timestamp = opt(F_TIMESTAMP, () => r.nonZeroUint64());
    const expires = opt(F_EXPIRES, () => r.nonZeroUint64());
    if (!r.next(F_KEY_NAME, WIRE_LEN)) r.fail('key name (field 6) missing');
    const keyName = r.readString();
    const publicKey = need(F_PUBLIC_KEY, 'public key');
    const signature = need(F_SIGNATURE, 'signature');
    r.expectEnd();
    if (indexDigest.length !== DIGEST_LENGTH) r.fail('index digest is not 32 bytes');
    if (signature.length !== SIGNATURE_BYTES) r.fail('signature is not 64 bytes');
    const root: SignedRoot = { indexDigest: asDigest(indexDigest), indexSize, sequence, timestamp, expires, keyName, publicKey, signature };
    checkRootFields(root);
    return root;
  } catch (err: unknown) {
    if (err instanceof WireError) throw new MalformedRootError(what, err.message, { cause: err });
    if (err instanceof MalformedRootError) throw new MalformedRootError(what, err.message.replace(/^root is malformed: /u, ''), { cause: err });
    throw err;
  }
}

/** protos/index.proto Equivocation, canonical: two roots of one key, one sequence, two indexes. */
export function encodeEquivocation(accepted: SignedRoot, conflicting: SignedRoot): Uint8Array {
  const w = new WireWriter(400);
  w.messageField(1, encodeSignedRoot(accepted));
  w.messageField(2, encodeSignedRoot(conflicting));
  return w.finish();
}

/** A short description for logs and `root show`. */
export function describeRoot(root: SignedRoot): Record<string, string | number | null> {
  return {
    key: showRootKey(root),
    sequence: root.sequence.toString(),
    timestamp: new Date(Number(root.timestamp) * 1000).toISOString(),
    expires: root.expires === 0n ? null : new Date(Number(root.expires) * 1000).toISOString(),
    index: toHex(root.indexDigest),
    indexSize: root.indexSize.toString(),
  };
}
