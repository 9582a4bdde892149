// Waiting that gives way: a back-off, a poll or an idle lane must not hold up a stop.

/** Resolves after `ms`, or at once when `signal` aborts or `wake` resolves, whichever comes first. */
export function pause(ms: number, signal: AbortSignal, wake?: Promise<void>): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    wake?.then(done, done);
  });
}
