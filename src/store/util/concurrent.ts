// Bounded concurrency for the store-wide walks: per-entry work there is a handful of small
// file-system calls, each a round trip through libuv's thread pool, so running several
// entries at once is what keeps the disk (and the pool) busy.

/** Store-wide walks check this many entries at once. */
export const WALK_CONCURRENCY = 8;

/**
 * Calls `fn` on every item of `source` with at most `limit` calls in flight. `lane`
 * (0 to limit-1) is the calling worker's number, for per-lane resources. The first
 * failure stops new calls; it is thrown once the calls in flight have settled.
 */
export async function forEachConcurrent<T>(
  source: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T, lane: number) => Promise<void>,
): Promise<void> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
  let failure: { err: unknown } | undefined;
  // Async generators queue concurrent next() calls, so workers can share one iterator;
  // a plain iterator's next() is synchronous and shares just as well.
  const worker = async (lane: number): Promise<void> => {
    while (failure === undefined) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (err: unknown) {
        failure ??= { err };
        return;
      }
      if (r.done) return;
      try {
        await fn(r.value, lane);
      } catch (err: unknown) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, (_, lane) => worker(lane)));
  if (failure !== undefined) {
    await it.return?.();
    throw failure.err;
  }
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: async () => it.next() };
}
