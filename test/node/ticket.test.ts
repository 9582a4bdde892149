// Tickets: round trips (fixed and generated), and every malformed form refused with its reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { blake3 } from '../../src/verify/blake3/index.js';
import type { Digest } from '../../src/store/digest.js';
import {
  InvalidTicketError, MAX_TICKET_ADDRESSES, TICKET_PREFIX, base32Decode, base32Encode, decodeTicket, encodeTicket,
  looksLikeTicket, ticketDialAddresses, type InvalidTicketReason, type Ticket,
} from '../../src/node/ticket.js';

const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
const otherPeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
const digest = Uint8Array.from({ length: 32 }, (_, i) => i * 7) as Digest;
const base: Ticket = { peerId, addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4002'], digest, type: 'directory' };

function rejects(text: string, reason: InvalidTicketReason): void {
  assert.throws(() => decodeTicket(text), (err: unknown) => {
    assert.ok(err instanceof InvalidTicketError, String(err));
    assert.equal(err.code, 'INVALID_TICKET');
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

/** A ticket from raw body bytes with a correct check, to reach the rules behind the check. */
function withCheck(body: number[]): string {
  const b = Uint8Array.from(body);
  const all = new Uint8Array(b.length + 4);
  all.set(b);
  all.set(blake3(b).subarray(0, 4), b.length);
  return TICKET_PREFIX + base32Encode(all);
}

const peerBytes = [...multiaddr(`/p2p/${peerId}`).bytes];
const addrBytes = [...multiaddr('/ip4/127.0.0.1/tcp/4001').bytes];
const head = (version = 1, kind = 2): number[] => [version, kind, ...digest];

test('round trip: peer, addresses (the /p2p suffix dropped), digest and type', () => {
  const text = encodeTicket({ ...base, addresses: [`/ip4/127.0.0.1/tcp/4001/p2p/${peerId}`, '/ip6/::1/tcp/4002', '/ip4/127.0.0.1/tcp/4001'] });
  assert.match(text, /^castor1[a-z2-7]+$/);
  assert.ok(looksLikeTicket(text));
  const t = decodeTicket(text);
  assert.equal(t.peerId, peerId);
  assert.deepEqual(t.addresses, base.addresses);
  assert.deepEqual(t.digest, digest);
  assert.equal(t.type, 'directory');
  assert.deepEqual(ticketDialAddresses(t), base.addresses.map((a) => `${a}/p2p/${peerId}`));
  // Case and surrounding whitespace do not matter (tickets pass through mail and chat).
  assert.deepEqual(decodeTicket(`  ${text.toUpperCase()}\n`), t);
  assert.equal(encodeTicket(t), text);
  assert.equal(decodeTicket(encodeTicket({ ...base, addresses: [], type: 'blob' })).type, 'blob');
});

test('round trip of generated tickets; base32 agrees with Buffer-free RFC 4648 vectors', () => {
  for (const [raw, b32] of [['', ''], ['f', 'my'], ['fo', 'mzxq'], ['foo', 'mzxw6'], ['foob', 'mzxw6yq'], ['fooba', 'mzxw6ytb'], ['foobar', 'mzxw6ytboi']] as const) {
    assert.equal(base32Encode(new TextEncoder().encode(raw)), b32);
    assert.equal(new TextDecoder().decode(base32Decode(b32)), raw);
  }
  const addr = fc.oneof(
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([ip, port]) => `/ip4/${ip}/tcp/${port}`),
    fc.tuple(fc.domain(), fc.integer({ min: 1, max: 65535 })).map(([d, port]) => `/dns4/${d}/tcp/${port}`),
  );
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uniqueArray(addr, { maxLength: MAX_TICKET_ADDRESSES }), fc.boolean(), (d, addresses, blob) => {
    const t = decodeTicket(encodeTicket({ peerId, addresses, digest: d as Digest, type: blob ? 'blob' : 'directory' }));
    assert.deepEqual([t.peerId, t.addresses, [...t.digest], t.type], [peerId, addresses.map((a) => multiaddr(a).toString()), [...d], blob ? 'blob' : 'directory']);
  }), { numRuns: 200 });
});

test('malformed text: prefix, alphabet, length, padding bits, size', () => {
  const good = encodeTicket(base);
  rejects('', 'prefix');
  rejects(good.slice(TICKET_PREFIX.length), 'prefix');
  rejects(`castor2${good.slice(7)}`, 'prefix');
  rejects(`${good.slice(0, 20)}1${good.slice(21)}`, 'base32');
  rejects(`${good.slice(0, 20)}=${good.slice(21)}`, 'base32');
  rejects(`${good.slice(0, 20)} ${good.slice(21)}`, 'base32');
  rejects(`${TICKET_PREFIX}a`, 'base32'); // 1 character cannot be whole bytes
  rejects(`${TICKET_PREFIX}mzxw6yr`, 'base32'); // non-zero padding bits ('r' where 'q' encodes "foob")
  rejects(`${TICKET_PREFIX}mzxw6ytboi`, 'truncated');
  rejects(TICKET_PREFIX + 'a'.repeat(9000), 'too-long');
});

test('every single-character change and every cut is caught by the check (or the base32 rules)', () => {
  const good = encodeTicket(base);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  for (let i = TICKET_PREFIX.length; i < good.length; i++) {
    const c = good[i]!;
    const other = alphabet[(alphabet.indexOf(c) + 1 + (i % 31)) % 32]!;
    assert.throws(() => decodeTicket(good.slice(0, i) + other + good.slice(i + 1)), InvalidTicketError, `position ${i}`);
  }
  for (let len = TICKET_PREFIX.length; len < good.length; len++) assert.throws(() => decodeTicket(good.slice(0, len)), InvalidTicketError, `cut at ${len}`);
});

test('well-checked but malformed bodies: version, kind, lengths, peer id, addresses, trailing bytes', () => {
  assert.deepEqual(decodeTicket(withCheck([...head(), peerBytes.length, ...peerBytes, 1, addrBytes.length, ...addrBytes])).addresses, ['/ip4/127.0.0.1/tcp/4001']);
  rejects(withCheck([...head(2), peerBytes.length, ...peerBytes, 0]), 'version');
  rejects(withCheck([...head(1, 0), peerBytes.length, ...peerBytes, 0]), 'kind');
  rejects(withCheck([...head(1, 3), peerBytes.length, ...peerBytes, 0]), 'kind');
  rejects(withCheck([...head(), 0]), 'peer-id');
  rejects(withCheck([...head(), 65, ...new Array<number>(65).fill(1), 0]), 'peer-id');
  rejects(withCheck([...head(), 3, 1, 2, 3, 0]), 'peer-id');
  rejects(withCheck([...head(), addrBytes.length, ...addrBytes, 0]), 'peer-id'); // an address where the peer belongs
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes]), 'truncated');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 1]), 'truncated');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 1, addrBytes.length, ...addrBytes.slice(0, -1)]), 'truncated');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 0x80, 0x00]), 'truncated'); // non-minimal varint
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 17]), 'too-many-addresses');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 1, 0]), 'address');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 1, 3, 0xff, 0xff, 0xff]), 'address');
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 1, peerBytes.length, ...peerBytes]), 'address'); // /p2p as an address
  rejects(withCheck([...head(), peerBytes.length, ...peerBytes, 0, 0]), 'trailing');
  rejects(withCheck([...head().slice(0, 20)]), 'truncated');
});

test('encoding refuses what it cannot carry', () => {
  assert.throws(() => encodeTicket({ ...base, peerId: 'not-a-peer' }), /peer id/);
  assert.throws(() => encodeTicket({ ...base, addresses: ['127.0.0.1:4001'] }), /not a multiaddr/);
  assert.throws(() => encodeTicket({ ...base, addresses: [`/ip4/127.0.0.1/tcp/1/p2p/${otherPeer}`] }), /another peer/);
  assert.throws(() => encodeTicket({ ...base, type: 'symlink' as 'blob' }), /type/);
  assert.throws(() => encodeTicket({ ...base, digest: new Uint8Array(31) as Digest }), /31 bytes/);
  const many = Array.from({ length: 40 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001`);
  assert.equal(decodeTicket(encodeTicket({ ...base, addresses: many })).addresses.length, MAX_TICKET_ADDRESSES);
});

