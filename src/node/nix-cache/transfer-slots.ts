// A counting semaphore for the requests that do store work (render or ingest a NAR, put a
// path): at most `active` at once, the rest wait in order. A waiter whose request goes
// away (the client hung up) gives up its place.

export class TransferSlots {
  #active = 0;
  readonly #waiting: { grant: () => void; signal?: AbortSignal }[] = [];

  constructor(readonly maxActive: number, readonly maxWaiting: number) {}

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** True when a new waiter would be past the waiting cap (the caller may refuse instead). */
  get full(): boolean {
    return this.#active >= this.maxActive && this.#waiting.length >= this.maxWaiting;
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#active < this.maxActive) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
        ...(signal !== undefined && { signal }),
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter; the count changes only when none waits.
      if (next !== undefined) next.grant();
      else this.#active--;
    };
  }
}
