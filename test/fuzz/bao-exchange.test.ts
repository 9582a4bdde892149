// Fuzzing what a peer's blob and stat answers carry, and what a hostile client's blob
// request carries: bao slices decoded against a trusted hash, outboards verified for a
// claimed size, and blob requests parsed by the server. Bytes that do not verify are
// refused with a typed error; only genuine bytes are released before that.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BytesReader, CombinedSource, decode, encodeBytes, extractSlice, outboardOf, sliceSource, verifyOutboard } from '../../src/verify/index.js';
import { parseBlobRequest } from '../../src/node/protocols/blob-serve.js';
import { BlobRequest } from '../../src/node/protocols/exchange-pb.js';
import { arbMutation, concat, params, typedOutcome, typedOutcomeAsync } from './fuzz-config.js';

const G = 4;
const content = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);

async function sliceOf(data: Uint8Array, start: number, end: number): Promise<{ hash: Uint8Array; slice: Uint8Array }> {
  const { hash, encoded } = await encodeBytes(data, G);
  const parts: Uint8Array[] = [];
  await extractSlice(new CombinedSource(new BytesReader(encoded)), [{ start, end }], (b) => { parts.push(Uint8Array.from(b)); }, G);
  return { hash, slice: concat(...parts) };
}

test('bao decode: damaged and random slices are refused with a typed error, releasing only genuine bytes', async (t) => {
  const { hash, slice } = await sliceOf(content, 30_000, 90_000);
  const genuine = Buffer.from(content.subarray(30_000, 90_000));
  await fc.assert(fc.asyncProperty(fc.oneof(arbMutation(slice), fc.uint8Array({ maxLength: 2048 })), async (bytes) => {
    const out: Uint8Array[] = [];
    const got = await typedOutcomeAsync(async () => {
      for await (const piece of decode(sliceSource(new BytesReader(bytes)), { hash, groupLog: G, ranges: [{ start: 30_000, end: 90_000 }] })) out.push(Uint8Array.from(piece));
    });
    const released = Buffer.concat(out);
    assert.ok(genuine.subarray(0, released.length).equals(released), 'released bytes that are not the blob\'s');
    if (!(got instanceof Error)) assert.ok(released.equals(genuine), 'a slice that decoded gave other bytes');
  }), params(t, Math.max(20, Math.floor(FUZZ_RUNS_BAO()))));
});

test('verifyOutboard: random and damaged outboards for a claimed size are refused with a typed error', async (t) => {
  const { hash } = await encodeBytes(content, G);
  const outboard = outboardOf(content, G).outboard;
  assert.equal(verifyOutboard(hash, content.length, outboard, G).constructor.name, 'VerifiedOutboard');
  await fc.assert(fc.asyncProperty(
    fc.oneof(arbMutation(outboard), fc.uint8Array({ maxLength: 1024 })),
    fc.oneof(fc.constant(content.length), fc.nat({ max: 1 << 20 }), fc.constant(2 ** 40)),
    async (ob, claimed) => {
      const got = typedOutcome(() => verifyOutboard(hash, claimed, ob, G));
      if (!(got instanceof Error)) assert.equal(claimed, content.length, 'an outboard verified for a size that is not the blob\'s');
    },
  ), params(t));
});

test('parseBlobRequest: random and damaged requests give ranges or a typed error', (t) => {
  const valid = BlobRequest.encode({ digest: new Uint8Array(32).fill(3), ranges: [{ start: 0n, end: 100n }, { start: 5000n, end: 9000n }], groupLog: 4 });
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), arbMutation(valid)), (bytes) => {
    typedOutcome(() => parseBlobRequest(bytes));
  }), params(t));
});

/** Bao decoding costs a hash per group: fewer cases than the cheap decoders. */
function FUZZ_RUNS_BAO(): number {
  return Number(process.env.FUZZ_RUNS ?? 200) / 4;
}
