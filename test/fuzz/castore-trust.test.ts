// Fuzzing the decoders of what peers and signed roots carry: castore Directories and
// Nodes, SignedRoots, root bundles, Index blobs, tickets. Each must answer random and
// damaged input with a value or a typed error, never a crash.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeDirectory, decodeNode, encodeDirectory, encodeNode } from '../../src/store/castore/index.js';
import { decodeRootBundle, decodeSignedRoot, encodeRootBundle, encodeSignedRoot, IndexView } from '../../src/store/trust/index.js';
import { decodeTicket, encodeTicket } from '../../src/node/ticket.js';
import { generateKeyPair } from '../../src/verify/index.js';
import { asDigest } from '../../src/store/digest.js';
import { arbDirectory, arbNode } from '../store/castore/arbitraries.js';
import { entries, indexOf, rootOver } from '../store/trust/fixtures.js';
import { arbMutation, params, typedOutcome } from './fuzz-config.js';

const arbBytes = fc.uint8Array({ maxLength: 512 });

test('decodeDirectory: random bytes and damaged encodings give a Directory or a typed error', (t) => {
  fc.assert(fc.property(fc.oneof(arbBytes, arbDirectory(6).chain((d) => arbMutation(encodeDirectory(d)))), (bytes) => {
    const got = typedOutcome(() => decodeDirectory(bytes));
    // Unknown fields are skipped as prost does (a peer's Directory is checked by hashing
    // the bytes it sent), so what decodes must survive its canonical re-encoding.
    if (!(got instanceof Error)) {
      const canonical = encodeDirectory(got);
      assert.deepEqual(Buffer.from(encodeDirectory(decodeDirectory(canonical))), Buffer.from(canonical));
    }
  }), params(t));
});

test('decodeNode: random bytes and damaged encodings give a Node or a typed error', (t) => {
  fc.assert(fc.property(fc.oneof(arbBytes, arbNode().chain((n) => arbMutation(encodeNode(n)))), (bytes) => {
    typedOutcome(() => decodeNode(bytes));
  }), params(t));
});

const key = generateKeyPair('fuzz-1');
const index = indexOf(entries(['a', 'b', 'nix-store-path', 'z']));
const root = rootOver(key.secret, index);

test('decodeSignedRoot and decodeRootBundle: damaged encodings give a value or a typed error', (t) => {
  const signed = encodeSignedRoot(root);
  const bundle = encodeRootBundle({ root, index });
  fc.assert(fc.property(fc.oneof(arbBytes, arbMutation(signed), arbMutation(bundle)), (bytes) => {
    typedOutcome(() => decodeSignedRoot(bytes));
    typedOutcome(() => decodeRootBundle(bytes));
  }), params(t));
});

test('IndexView.scan: damaged Index blobs give a view or a typed error', (t) => {
  fc.assert(fc.property(fc.oneof(arbBytes, arbMutation(index)), (bytes) => {
    const view = typedOutcome(() => IndexView.scan(bytes));
    if (!(view instanceof Error)) assert.ok(view.offsets.length >= 1);
  }), params(t));
});

test('decodeTicket: random text and damaged tickets give a Ticket or a typed error', (t) => {
  const valid = encodeTicket({
    type: 'blob',
    peerId: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
    addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001'],
    digest: asDigest(new Uint8Array(32).fill(7)),
  });
  const chars = fc.constantFrom(...'castor1abcdefghijklmnopqrstuvwxyz234567=-_/ \u0000\u00ff');
  const damaged = fc.tuple(fc.nat({ max: valid.length }), fc.string({ unit: chars, maxLength: 8 }), fc.nat({ max: 8 }))
    .map(([at, ins, cut]) => valid.slice(0, at) + ins + valid.slice(at + cut));
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: chars, maxLength: 300 }), damaged), (text) => {
    typedOutcome(() => decodeTicket(text));
  }), params(t));
});
