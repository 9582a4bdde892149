// Getting a store path the cache does not hold, on a narinfo request for it: from the
// node's substituters (peers, upstream binary caches) in order. One substitution per
// hash part runs at once however many requests ask; a request waits for it at most a
// bounded time and is then answered 404 while it goes on, so `nix` never hangs on the
// cache and a later request finds the path done.

import { CastorError } from '../../verify/index.js';
import { MAX_SUBSTITUTIONS } from './limits.js';

/** A source of store paths the cache lacks (peers, an upstream binary cache). */
export interface NixSubstituter {
  /** For log lines: `upstream http://...`, `peers`. */
  readonly name: string;
  /**
   * Makes the path of `hashPart` and its closure present in the PathInfo store, every
   * byte checked against a trusted PathInfo first. Resolves true when it is now present,
   * false when this source does not have it; throws (a CastorError) when it failed.
   */
  substitute(hashPart: string): Promise<boolean>;
}

/** Every substituter failed for a path. `value`: the hash part. */
export class SubstituteError extends CastorError {
  constructor(hashPart: string, failures: readonly { name: string; err: unknown }[]) {
    const what = failures.map((f) => `${f.name}: ${f.err instanceof Error ? f.err.message : String(f.err)}`).join('; ');
    super('NIX_SUBSTITUTE_FAILED', `no substituter could get the path of ${hashPart}: ${what}`, hashPart, { cause: failures[0]?.err });
  }
}

/** Tries `substituters` in order; true once one has the path. Throws SubstituteError when none has it and some failed. */
export async function substituteFrom(substituters: readonly NixSubstituter[], hashPart: string): Promise<boolean> {
  const failures: { name: string; err: unknown }[] = [];
  for (const s of substituters) {
    try {
      if (await s.substitute(hashPart)) return true;
    } catch (err: unknown) {
      failures.push({ name: s.name, err });
    }
  }
  if (failures.length > 0) throw new SubstituteError(hashPart, failures);
  return false;
}

/** Substitutions in flight, one per hash part. */
export class Substitutions {
  readonly #running = new Map<string, Promise<boolean>>();

  constructor(
    private readonly substituters: readonly NixSubstituter[],
    private readonly log?: (line: string) => void,
    private readonly max = MAX_SUBSTITUTIONS,
  ) {}

  get enabled(): boolean {
    return this.substituters.length > 0;
  }

  /** Hash parts being substituted now. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * The substitution of `hashPart`, started now unless one runs; it settles to false on
   * failure (logged), and at once when `max` others run (requests for made-up hash parts
   * must not start unbounded work; Nix asks again on its next run).
   */
  start(hashPart: string): Promise<boolean> {
    let p = this.#running.get(hashPart);
    if (p === undefined) {
      if (this.#running.size >= this.max) return Promise.resolve(false);
      p = substituteFrom(this.substituters, hashPart).then(
        (got) => {
          if (got) this.log?.(`nix cache: substituted the path of ${hashPart}`);
          return got;
        },
        (err: unknown) => {
          this.log?.(`nix cache: ${err instanceof Error ? err.message : String(err)}`);
          return false;
        },
      ).finally(() => this.#running.delete(hashPart));
      this.#running.set(hashPart, p);
    }
    return p;
  }

  /**
   * Starts (or joins) the substitution of `hashPart` and waits for it at most `ms`:
   * true when it is done and the path present, false when absent, failed, or still
   * running (it goes on).
   */
  async wait(hashPart: string, ms: number): Promise<boolean> {
    const p = this.start(hashPart);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
