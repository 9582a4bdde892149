// The write path of a partial blob: content bytes in any runs or pieces become whole
// groups (pieces gathered in memory), each group is hashed against the verified outboard,
// only then written to the content file at its offset, and only once written is it
// marked held. A bad group stops the run there: the groups before it are kept.

import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { VerifiedOutboard } from '../../verify/index.js';
import { HashMismatchError } from '../../verify/index.js';
import { fsError } from '../fs/index.js';
import { GroupAssembly } from './group-assembly.js';
import type { GroupBitfield } from './group-bitfield.js';
import type { HeldPersister } from './partial-persist.js';

/** Runs at least this long are written through the thread pool, shorter ones synchronously. */
const ASYNC_WRITE_BYTES = 256 * 1024;

export class GroupWriter {
  readonly #assembling = new GroupAssembly();

  /** `where` names the partial in errors. */
  constructor(
    private readonly tree: VerifiedOutboard, private readonly held: GroupBitfield, private readonly content: FileHandle,
    private readonly persister: HeldPersister, private readonly where: string,
  ) {}

  /**
   * Stores `bytes` at content offset `offset` (checked by the caller to lie inside the
   * blob); resolves to the number of groups newly held. HASH_MISMATCH (value: the group
   * index) for the first group that does not verify, after the ones before it were stored.
   * `verified`: the bytes come from a verifying decoder for this blob's digest, so hashing
   * them again against the outboard (which that digest also vouches for) is skipped.
   */
  async write(offset: number, bytes: Uint8Array, verified = false): Promise<number> {
    if (this.tree.length === 0) return this.#storeRun(0, bytes, verified);
    const gb = this.tree.groupBytes;
    let pos = offset;
    let rest = bytes;
    let newly = 0;
    while (rest.length > 0) {
      const group = Math.floor(pos / gb);
      const { start, end } = this.tree.groupRange(group);
      let used: number;
      if (pos === start && rest.length >= end - start) {
        // A run of whole groups (ending at the content's end or a group boundary).
        const runEnd = pos + rest.length >= this.tree.length ? this.tree.length : pos + Math.floor(rest.length / gb) * gb;
        used = runEnd - pos;
        this.#assembling.drop(group);
        newly += await this.#storeRun(group, rest.subarray(0, used), verified);
      } else {
        used = Math.min(rest.length, end - pos);
        const whole = this.held.has(group) ? undefined : this.#assembling.add(group, pos - start, rest.subarray(0, used), end - start);
        if (whole) newly += await this.#storeRun(group, whole, verified);
      }
      pos += used;
      rest = rest.subarray(used);
    }
    return newly;
  }

  /** Verifies whole groups first.. in `data`, writes those not held yet, marks them, maybe persists. */
  async #storeRun(first: number, data: Uint8Array, verified: boolean): Promise<number> {
    const gb = this.tree.groupBytes;
    const count = Math.max(1, Math.ceil(data.length / gb));
    const ok = verified ? count : this.tree.verifyGroups(first, data);
    // Write the verified groups not held yet, in runs.
    let newly = 0;
    for (let i = 0; i < ok;) {
      if (this.held.has(first + i)) { i++; continue; }
      let j = i;
      while (j < ok && !this.held.has(first + j)) j++;
      await this.#writeContent((first + i) * gb, data.subarray(i * gb, Math.min(data.length, j * gb)));
      for (let k = i; k < j; k++) {
        if (this.held.set(first + k)) {
          newly++;
          this.persister.changed(this.tree.groupRange(first + k).end - (first + k) * gb);
        }
      }
      i = j;
    }
    if (ok < count) {
      const bad = first + ok;
      const { start, end } = this.tree.groupRange(bad);
      throw new HashMismatchError(`group ${bad} (content bytes ${start}..${end})`, start, bad);
    }
    this.persister.maybePersist();
    return newly;
  }

  /**
   * Small runs synchronously: a decoder may hand over 16 to 32 KiB of verified groups at a
   * time, thousands of writes per 256 MiB, and each one through the thread pool cost a
   * round trip whose wake-up took the core from this thread (4.6 s of the client's main
   * thread per 256 MiB fetch, profiled). Large runs (the swarm fetch gathers 1 MiB) through
   * the thread pool: a few hundred round trips, and the page-cache copy, which blocks for
   * milliseconds while the disk is busy (writeSync took 1.3-1.5 s of that thread per
   * 256 MiB at load 5-6), is not on this thread.
   */
  async #writeContent(position: number, bytes: Uint8Array): Promise<void> {
    try {
      if (bytes.length >= ASYNC_WRITE_BYTES) {
        for (let at = 0; at < bytes.length;) at += (await this.content.write(bytes, at, bytes.length - at, position + at)).bytesWritten;
      } else {
        for (let at = 0; at < bytes.length;) at += writeSync(this.content.fd, bytes, at, bytes.length - at, position + at);
      }
    } catch (err: unknown) {
      throw fsError(err, this.where, 'writing');
    }
  }
}
