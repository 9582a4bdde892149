// Tickets: one pasteable string that says where to fetch something from: a peer id,
// the addresses it listens on, and the root digest (and whether it is a blob or a tree).
//
// Text form: "castor1" followed by the lowercase RFC 4648 base32 (no padding) of:
//
//   offset  size     field
//   0       1        version, 1
//   1       1        kind: 1 blob, 2 directory
//   2       32       root digest (BLAKE3)
//   34      uvarint  P, then P bytes: the peer id as a binary multiaddr "/p2p/<id>"
//           uvarint  N (at most MAX_TICKET_ADDRESSES), then N times:
//                    uvarint L, then L bytes: a binary multiaddr without "/p2p"
//   end-4   4        check: the first 4 bytes of BLAKE3 of everything before it
//
// Decoding is strict: the prefix, the alphabet, zero padding bits, the version, the kind,
// every length, the check, and no trailing bytes. A ticket is a hint of where to look,
// never a reason to trust: what it names is verified by its digest like anything else.

import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { blake3 } from '../verify/index.js';
import { CastorError } from '../verify/index.js';
import { asDigest, DIGEST_LENGTH, digestEquals, type Digest } from '../store/index.js';

export const TICKET_PREFIX = 'castor1';
export const TICKET_VERSION = 1;
/** Addresses kept in one ticket; more are dropped when encoding. */
export const MAX_TICKET_ADDRESSES = 16;
/** Bytes of one binary multiaddr in a ticket (a dns name and ports fit well within). */
export const MAX_TICKET_ADDRESS_BYTES = 255;
/** Bytes of the "/p2p/<id>" field (an ed25519 identity multihash is 38, rsa sha2-256 is 34). */
export const MAX_TICKET_PEER_BYTES = 64;
/** Characters of a ticket's text, so a pasted megabyte is refused before it is decoded. */
export const MAX_TICKET_CHARS = 8192;
const CHECK_BYTES = 4;
const KIND_CODES = { blob: 1, directory: 2 } as const;

export type TicketKind = keyof typeof KIND_CODES;

export interface Ticket {
  /** The peer's id, as libp2p prints it (12D3KooW...). */
  readonly peerId: string;
  /** Where it listens, without the "/p2p/<id>" suffix. */
  readonly addresses: readonly string[];
  readonly digest: Digest;
  readonly type: TicketKind;
}

export type InvalidTicketReason =
  | 'prefix' | 'too-long' | 'base32' | 'truncated' | 'check' | 'version' | 'kind' | 'peer-id' | 'address' | 'too-many-addresses' | 'trailing';

/** Text that is not a well-formed ticket; `reason` says which rule it broke. */
export class InvalidTicketError extends CastorError {
  constructor(readonly reason: InvalidTicketReason, detail: string, value?: unknown) {
    super('INVALID_TICKET', `invalid ticket: ${detail}`, value);
  }
}

/** Whether `text` is meant as a ticket (has the prefix); decodeTicket still decides if it is one. */
export function looksLikeTicket(text: string): boolean {
  return text.trim().toLowerCase().startsWith(TICKET_PREFIX);
}

/**
 * The ticket's text. `addresses` may be full multiaddrs ending "/p2p/<peerId>" (as a
 * node reports them); the suffix is dropped. Duplicates are dropped and at most
 * MAX_TICKET_ADDRESSES are kept. Throws InvalidTicketError for a bad peer id or address.
 */
export function encodeTicket(ticket: Ticket): string {
  const peer = peerField(ticket.peerId);
  const digest = asDigest(ticket.digest);
  const kind = KIND_CODES[ticket.type];
  if (kind === undefined) throw new InvalidTicketError('kind', `type must be "blob" or "directory", got ${JSON.stringify(ticket.type)}`, ticket.type);
  const addrs: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const text of ticket.addresses) {
    const bytes = addressField(text, ticket.peerId);
    const key = Buffer.from(bytes).toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    addrs.push(bytes);
    if (addrs.length === MAX_TICKET_ADDRESSES) break;
  }
  const parts: number[] = [TICKET_VERSION, kind, ...digest, ...uvarint(peer.length), ...peer, ...uvarint(addrs.length)];
  for (const a of addrs) parts.push(...uvarint(a.length), ...a);
  const body = Uint8Array.from(parts);
  const check = blake3(body).subarray(0, CHECK_BYTES);
  const all = new Uint8Array(body.length + CHECK_BYTES);
  all.set(body);
  all.set(check, body.length);
  return TICKET_PREFIX + base32Encode(all);
}

/** The ticket in `text` (surrounding whitespace and letter case ignored). Throws InvalidTicketError. */
export function decodeTicket(text: string): Ticket {
  if (typeof text !== 'string') throw new InvalidTicketError('prefix', 'not a string', text);
  const t = text.trim().toLowerCase();
  if (t.length > MAX_TICKET_CHARS) throw new InvalidTicketError('too-long', `${t.length} characters, at most ${MAX_TICKET_CHARS}`, t.length);
  if (!t.startsWith(TICKET_PREFIX)) throw new InvalidTicketError('prefix', `expected text starting with "${TICKET_PREFIX}"`, clip(text));
  const bytes = base32Decode(t.slice(TICKET_PREFIX.length));
  if (bytes.length < 2 + DIGEST_LENGTH + CHECK_BYTES) throw new InvalidTicketError('truncated', `${bytes.length} bytes is too short to be a ticket`, bytes.length);
  const body = bytes.subarray(0, bytes.length - CHECK_BYTES);
  if (!digestEquals(blake3(body).subarray(0, CHECK_BYTES), bytes.subarray(body.length))) {
    throw new InvalidTicketError('check', 'check bytes do not match (mistyped or cut short?)', clip(text));
  }
  const r = new Reader(body);
  const version = r.byte('version');
  if (version !== TICKET_VERSION) throw new InvalidTicketError('version', `version ${version} is not supported (this castor reads version ${TICKET_VERSION})`, version);
  const kindCode = r.byte('kind');
  const type = (Object.keys(KIND_CODES) as TicketKind[]).find((k) => KIND_CODES[k] === kindCode);
  if (type === undefined) throw new InvalidTicketError('kind', `kind ${kindCode} is neither 1 (blob) nor 2 (directory)`, kindCode);
  const digest = asDigest(r.bytes(DIGEST_LENGTH, 'digest').slice());
  const peerId = decodePeer(r.bytes(r.length(MAX_TICKET_PEER_BYTES, 'peer id'), 'peer id'));
  const count = r.varint('address count');
  if (count > MAX_TICKET_ADDRESSES) throw new InvalidTicketError('too-many-addresses', `${count} addresses, at most ${MAX_TICKET_ADDRESSES}`, count);
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(decodeAddress(r.bytes(r.length(MAX_TICKET_ADDRESS_BYTES, `address ${i}`), `address ${i}`), i));
  if (!r.done()) throw new InvalidTicketError('trailing', `${r.remaining()} bytes after the last address`, r.remaining());
  return { peerId, addresses, digest, type };
}

/** The ticket's addresses with "/p2p/<peerId>" appended: what a node dials. */
export function ticketDialAddresses(ticket: Ticket): string[] {
  return ticket.addresses.map((a) => `${a}/p2p/${ticket.peerId}`);
}

function peerField(peerId: string): Uint8Array {
  let ma: Multiaddr;
  try {
    peerIdFromString(peerId);
    ma = multiaddr(`/p2p/${peerId}`);
  } catch (err: unknown) {
    throw new InvalidTicketError('peer-id', `${JSON.stringify(peerId)} is not a peer id: ${err instanceof Error ? err.message : String(err)}`, peerId);
  }
  if (ma.bytes.length > MAX_TICKET_PEER_BYTES) throw new InvalidTicketError('peer-id', `peer id ${peerId} is over ${MAX_TICKET_PEER_BYTES} bytes`, peerId);
  return ma.bytes;
}

function addressField(text: string, peerId: string): Uint8Array {
  let ma: Multiaddr;
  try {
    ma = multiaddr(text);
  } catch (err: unknown) {
    throw new InvalidTicketError('address', `${JSON.stringify(text)} is not a multiaddr: ${err instanceof Error ? err.message : String(err)}`, text);
  }
  const comps = ma.getComponents();
  const p2p = comps.findIndex((c) => c.name === 'p2p');
  if (p2p >= 0) {
    if (p2p !== comps.length - 1 || comps[p2p]!.value !== peerId) {
      throw new InvalidTicketError('address', `${text} names another peer than ${peerId}`, text);
    }
    ma = ma.decapsulateCode(comps[p2p]!.code);
  }
  if (ma.getComponents().length === 0) throw new InvalidTicketError('address', `${JSON.stringify(text)} has no transport part`, text);
  if (ma.bytes.length > MAX_TICKET_ADDRESS_BYTES) throw new InvalidTicketError('address', `${text} is over ${MAX_TICKET_ADDRESS_BYTES} bytes`, text);
  return ma.bytes;
}

function decodePeer(bytes: Uint8Array): string {
  try {
    const comps = multiaddr(bytes.slice()).getComponents();
    if (comps.length !== 1 || comps[0]!.name !== 'p2p' || comps[0]!.value === undefined) throw new Error('not a single /p2p component');
    return peerIdFromString(comps[0]!.value).toString();
  } catch (err: unknown) {
    throw new InvalidTicketError('peer-id', `peer id field: ${err instanceof Error ? err.message : String(err)}`, Buffer.from(bytes).toString('hex'));
  }
}

function decodeAddress(bytes: Uint8Array, i: number): string {
  let comps;
  let text: string;
  try {
    const ma = multiaddr(bytes.slice());
    comps = ma.getComponents();
    text = ma.toString();
  } catch (err: unknown) {
    throw new InvalidTicketError('address', `address ${i}: ${err instanceof Error ? err.message : String(err)}`, Buffer.from(bytes).toString('hex'));
  }
  if (comps.length === 0 || comps.some((c) => c.name === 'p2p')) throw new InvalidTicketError('address', `address ${i} (${text}) must be a transport address without /p2p`, text);
  // The multiaddr parser accepts some byte strings that do not round-trip; a ticket must be canonical.
  if (!digestEquals(multiaddr(text).bytes, bytes)) throw new InvalidTicketError('address', `address ${i} is not canonical`, text);
  return text;
}

class Reader {
  #at = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(what: string): number {
    if (this.#at >= this.buf.length) throw truncated(what);
    return this.buf[this.#at++]!;
  }

  bytes(n: number, what: string): Uint8Array {
    if (this.#at + n > this.buf.length) throw truncated(what);
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** A minimal uvarint of at most 4 bytes (28 bits is far above every limit here). */
  varint(what: string): number {
    let n = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.byte(what);
      if (b === 0 && shift > 0) throw new InvalidTicketError('truncated', `${what}: non-minimal varint`, what);
      n |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return n;
    }
    throw new InvalidTicketError('truncated', `${what}: varint too long`, what);
  }

  length(max: number, what: string): number {
    const n = this.varint(`${what} length`);
    if (n === 0 || n > max) throw new InvalidTicketError(what.startsWith('address') ? 'address' : 'peer-id', `${what} is ${n} bytes, expected 1 to ${max}`, n);
    return n;
  }

  done(): boolean {
    return this.#at === this.buf.length;
  }

  remaining(): number {
    return this.buf.length - this.#at;
  }
}

const truncated = (what: string): InvalidTicketError => new InvalidTicketError('truncated', `ends inside the ${what}`, what);

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const clip = (s: string): string => (s.length > 80 ? `${s.slice(0, 80)}…` : s);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/** RFC 4648 base32, lowercase, no padding. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Strict inverse of base32Encode: only the alphabet, a length an encoding can have, zero padding bits. */
export function base32Decode(text: string): Uint8Array {
  const rem = text.length % 8;
  if (rem === 1 || rem === 3 || rem === 6) throw new InvalidTicketError('base32', `${text.length} base32 characters cannot be a whole number of bytes`, text.length);
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const v = VALUES.get(text[i]!);
    if (v === undefined) throw new InvalidTicketError('base32', `character ${JSON.stringify(text[i])} at ${TICKET_PREFIX.length + i} is not base32 (a-z, 2-7)`, text[i]);
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new InvalidTicketError('base32', 'non-zero padding bits at the end', text);
  return out;
}
