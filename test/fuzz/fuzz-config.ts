// How many cases each fuzz property runs and with which seed. `npm test` runs a few
// hundred per decoder; `npm run fuzz` runs many more (FUZZ_RUNS) with a fresh seed, and
// prints it so a failure replays with FUZZ_SEED=<seed>.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { CastorError } from '../../src/verify/index.js';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 200);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? (Date.now() ^ (process.pid << 8)) >>> 0);

/** fast-check parameters for one property, its seed reported on the test. */
export function params(t: TestContext, runs = FUZZ_RUNS): fc.Parameters<unknown> {
  t.diagnostic(`seed ${FUZZ_SEED}, ${runs} runs (replay: FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${runs})`);
  return { seed: FUZZ_SEED, numRuns: runs };
}

/**
 * A decoder's answer to outside input: a value, or a typed error (a CastorError with a
 * stable code). A TypeError, RangeError or bare Error is a crash the caller did not
 * plan for, so it fails the property with the input that caused it.
 */
export function typedOutcome<T>(decode: () => T): T | CastorError {
  try {
    return decode();
  } catch (err: unknown) {
    assertTyped(err);
    return err;
  }
}

export async function typedOutcomeAsync<T>(decode: () => Promise<T>): Promise<T | CastorError> {
  try {
    return await decode();
  } catch (err: unknown) {
    assertTyped(err);
    return err;
  }
}

export function assertTyped(err: unknown): asserts err is CastorError {
  if (err instanceof CastorError && typeof err.code === 'string' && err.code.length > 0) return;
  assert.fail(`untyped failure: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
}

/** Damage to a valid encoding: flip bits, cut, insert, overwrite a run, splice a varint. */
export function arbMutation(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  const at = fc.nat({ max: Math.max(0, n) });
  return fc.oneof(
    fc.array(fc.tuple(at, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
      const out = Uint8Array.from(valid);
      for (const [i, x] of flips) if (i < n) out[i] ^= x;
      return out;
    }),
    at.map((i) => valid.subarray(0, i)),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, b]) => concat(valid.subarray(0, i), b, valid.subarray(i))),
    fc.tuple(at, fc.nat({ max: 32 })).map(([i, k]) => concat(valid.subarray(0, i), valid.subarray(Math.min(n, i + k)))),
    // A length or count field swapped for a huge varint (2^40 and up).
    fc.tuple(at, fc.bigInt({ min: 1n << 32n, max: (1n << 63n) - 1n })).map(([i, v]) => concat(valid.subarray(0, i), varint(v), valid.subarray(i))),
  );
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
  out.push(Number(v));
  return new Uint8Array(out);
}
