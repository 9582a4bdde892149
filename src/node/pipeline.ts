// Keeps a few writes in flight instead of awaiting each: the next piece is decoded (and,
// by the partial, hashed) while the previous ones go to disk. Writes are issued in
// order; a failure surfaces at most `depth` writes later, or from drain().

export class Pipeline {
  readonly #inflight: Promise<unknown>[] = [];

  constructor(readonly depth: number) {}

  async add(p: Promise<unknown>): Promise<void> {
    // Awaited below or in drain(); until then its failure must not count as unhandled.
    p.catch(() => undefined);
    this.#inflight.push(p);
    if (this.#inflight.length > this.depth) await this.#inflight.shift();
  }

  /** Waits for every write; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#inflight.length > 0) await this.#inflight.shift();
  }

  /** Waits for every write, ignoring failures (a caller already failing). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#inflight.splice(0));
  }
}
