// A counting semaphore for async work: at most `n` tasks run at once, the rest wait in
// call order. Ingest and export use it to keep many files in flight without opening
// every file of a tree at once.

export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

export function limit(n: number): Limit {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`concurrency must be a positive integer, got ${n}`);
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = (): void => {
    running--;
    waiting.shift()?.();
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      next();
    }
  };
}
