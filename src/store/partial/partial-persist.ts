// When and how a partial blob's held groups become durable. A persist snapshots the
// in-memory bitfield, fsyncs the content file, then writes the snapshot over the
// bitfield file and fsyncs that: every bit it sets was for bytes whose write had
// completed before the content fsync began. Persists run one at a time, while writes
// go on; a failed one leaves the bits dirty for the next.

import type { FileHandle } from 'node:fs/promises';
import { fsError } from '../fs/index.js';
import type { GroupBitfield } from './group-bitfield.js';
import { writeBitfield } from './partial-files.js';

export interface PersistPolicy {
  durable: boolean;
  /** Persist once this many content bytes were newly held since the last persist. */
  everyBytes: number;
  /** ... or once this long has passed since the last persist (looked at on each write). */
  everyMs: number;
}

export class HeldPersister {
  #dirty = false;
  #dirtyBytes = 0;
  #last = Date.now();
  #running: Promise<void> = Promise.resolve();
  #persistedCount: number;
  /** A persist started by maybePersist is running. */
  #background = false;
  /** What the last background persist failed with, for the next write to report. */
  #failed: unknown;

  /** `bitfieldFile` undefined: a read-only view, nothing to persist. `where` names the partial in errors. */
  constructor(
    private readonly held: GroupBitfield, private readonly content: FileHandle,
    private readonly bitfieldFile: FileHandle | undefined, private readonly where: string, private readonly policy: PersistPolicy,
  ) {
    this.#persistedCount = held.count;
  }

  /** Groups held as of the last completed persist. */
  get persistedCount(): number {
    return this.#persistedCount;
  }

  /** Bits changed in memory: a group of `bytes` newly held (0 for a group dropped). */
  changed(bytes: number): void {
    this.#dirty = true;
    this.#dirtyBytes += bytes;
  }

  /** The bitfield was reloaded from disk: what is in memory is what is persisted. */
  reloaded(): void {
    this.#dirty = false;
    this.#dirtyBytes = 0;
    this.#persistedCount = this.held.count;
  }

  /**
   * Starts a persist in the background if the policy says it is time, unless one is
   * running. Writes do not wait for it: its fsync of the content file takes as long as the
   * disk needs to take the last few MiB, and a fetch that waited for it stalled that long
   * every persistEveryBytes. Throws (once) what the last background persist failed with;
   * its bits stay dirty for the next.
   */
  maybePersist(): void {
    const failed = this.#failed;
    if (failed !== undefined) {
      this.#failed = undefined;
      throw failed;
    }
    if (this.#background || !this.#due()) return;
    this.#background = true;
    this.persist().then(
      () => { this.#background = false; },
      (err: unknown) => { this.#background = false; this.#failed ??= err; },
    );
  }

  #due(): boolean {
    return this.#dirtyBytes >= this.policy.everyBytes || (this.#dirty && Date.now() - this.#last >= this.policy.everyMs);
  }

  persist(): Promise<void> {
    if (this.bitfieldFile === undefined) return Promise.resolve();
    const run = this.#running.catch(() => undefined).then(() => this.#persistNow(this.bitfieldFile!));
    this.#running = run;
    return run;
  }

  /** Resolves once no persist is running (whatever its outcome). */
  async settled(): Promise<void> {
    await this.#running.catch(() => undefined);
  }

  async #persistNow(file: FileHandle): Promise<void> {
    if (!this.#dirty) return;
    const snapshot = this.held.bits.slice();
    const count = this.held.count;
    this.#dirty = false;
    this.#dirtyBytes = 0;
    this.#last = Date.now();
    try {
      if (this.policy.durable) await this.content.datasync();
      await writeBitfield(file, snapshot, this.policy.durable);
      this.#persistedCount = count;
    } catch (err: unknown) {
      this.#dirty = true;
      throw fsError(err, this.where, 'persisting');
    }
  }
}
