// Bounds for a producer that hands work to the file system faster than it completes: a
// TaskPool keeps up to `limit` async tasks in flight, makes the producer wait for a free
// slot and keeps the first failure for whoever drains it; a ByteRing holds copies of the
// bytes those tasks still need in one fixed buffer, so the producer's own buffers can be
// reused at once and memory stays bounded however far the producer runs ahead.

export class TaskPool {
  readonly #limit: number;
  #active = 0;
  #slotWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #failure: { error: unknown } | undefined;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`pool limit ${limit} is not a positive integer`);
    this.#limit = limit;
  }

  /** The first error a task threw, if any (boxed, so a thrown `undefined` still counts). */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * Starts `task` once fewer than `limit` tasks are in flight and resolves when it has
   * started (not when it ends). A task's rejection is kept as the pool's failure; later
   * tasks still run, so callers check `failure` before adding more.
   */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    this.#active++;
    let run: Promise<void>;
    try {
      run = task();
    } catch (err: unknown) {
      run = Promise.reject(err);
    }
    run.then(undefined, (err: unknown) => { this.#failure ??= { error: err }; }).finally(() => this.#release());
  }

  /** Resolves once no task is in flight. Never rejects: read `failure` afterwards. */
  async drain(): Promise<void> {
    while (this.#active > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  #release(): void {
    this.#active--;
    this.#slotWaiters.shift()?.();
    if (this.#active === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}

/** Bytes borrowed from a ByteRing; `release` hands them back (once; later calls do nothing). */
export interface RingCopy {
  readonly bytes: Uint8Array;
  release(): void;
}

interface Region {
  readonly start: number;
  readonly end: number;
  released: boolean;
}

/**
 * A fixed buffer that copies are carved from in order and handed back in about the same
 * order, as queued work finishes: bounded memory that allocates nothing once made, and
 * backpressure (copy waits) when everything in it is still in use. A region handed back
 * out of order is reused once every older one is back too.
 */
export class ByteRing {
  readonly size: number;
  #buf: Uint8Array | undefined;
  /** Live regions, oldest first. */
  #regions: Region[] = [];
  #first = 0;
  #waiters: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`ring size ${size} is not a positive integer`);
    this.size = size;
  }

  /** A copy of `data` (at most `size` bytes) in the ring, once there is room for it. */
  async copy(data: Uint8Array): Promise<RingCopy> {
    if (data.length > this.size) throw new RangeError(`${data.length} bytes do not fit a ${this.size}-byte ring`);
    if (data.length === 0) return { bytes: new Uint8Array(0), release: () => undefined };
    let at: number;
    while ((at = this.#fit(data.length)) < 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#buf ??= new Uint8Array(this.size);
    const region: Region = { start: at, end: at + data.length, released: false };
    this.#regions.push(region);
    const bytes = this.#buf.subarray(region.start, region.end);
    bytes.set(data);
    return { bytes, release: () => this.#release(region) };
  }

  /** Where `len` bytes fit after the newest region, wrapping to the start if need be; -1 if nowhere yet. */
  #fit(len: number): number {
    if (this.#first === this.#regions.length) return 0;
    const oldest = this.#regions[this.#first]!.start;
    const next = this.#regions[this.#regions.length - 1]!.end;
    if (next > oldest) {
      // Not wrapped: free space is [next, size) and, wrapping round, [0, oldest).
      if (this.size - next >= len) return next;
      return oldest >= len ? 0 : -1;
    }
    // Wrapped: free space is [next, oldest).
    return oldest - next >= len ? next : -1;
  }

  #release(region: Region): void {
    if (region.released) return;
    region.released = true;
    while (this.#first < this.#regions.length && this.#regions[this.#first]!.released) this.#first++;
    if (this.#first === this.#regions.length || this.#first > 1024) {
      this.#regions = this.#regions.slice(this.#first);
      this.#first = 0;
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
