// Test data for blob stores: deterministic pseudo-random bytes (shared with child
// processes, which must not load node:test) and stream collection.

/** FastCDC sizes that make many chunks of little data: chunk boundaries everywhere. */
export const SMALL_CHUNKS = { min: 1024, avg: 4096, max: 16384 };

/** Deterministic pseudo-random bytes (xorshift32), so a failing size reproduces. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

/** The blobs the concurrent-writer processes write: a shared body with per-process heads and tails. */
export function overlappingBlobs(proc: number): Uint8Array[] {
  const shared = randomBytes(1_500_000, 42);
  const head = randomBytes(50_000, 1000 + proc);
  const tail = randomBytes(200_000, 2000 + proc);
  return [
    shared,
    new Uint8Array(Buffer.concat([shared, tail])),
    new Uint8Array(Buffer.concat([head, shared])),
    new Uint8Array(Buffer.concat([shared.subarray(0, 700_000), tail, shared.subarray(700_000)])),
  ];
}
