// Pack files kept open across the chunks of one read. A blob's chunks sit side by side in
// the pack its writer appended them to, so a streaming read that opened and closed the pack
// for every chunk paid an open and a close per 64 KiB (about 2 s of a 563 MiB NAR render).
// A pack's path is never reused (writers and gc name packs at random) and an entry's bytes
// never change while the file exists, so an fd kept open still reads what the index named,
// even if gc unlinks the pack meanwhile.

import { open, type FileHandle } from 'node:fs/promises';

/** Idle pack files kept open per reader: the pack being read and a few it alternates with. */
export const PACK_FILES_IDLE = 4;

export class PackFiles {
  // Idle handles, least recently returned first.
  readonly #idle = new Map<string, FileHandle>();
  #closed = false;

  /** An open handle on `pack`: an idle one if there is one (it is then in use, not idle). */
  async take(pack: string): Promise<FileHandle> {
    const fh = this.#idle.get(pack);
    if (fh !== undefined) {
      this.#idle.delete(pack);
      return fh;
    }
    return open(pack, 'r');
  }

  /** Gives back a handle from take(); kept idle unless one for that pack already is, the cache is full or closed. */
  async give(pack: string, fh: FileHandle): Promise<void> {
    if (this.#closed || this.#idle.has(pack)) return fh.close();
    this.#idle.set(pack, fh);
    if (this.#idle.size <= PACK_FILES_IDLE) return;
    const [oldest, old] = this.#idle.entries().next().value as [string, FileHandle];
    this.#idle.delete(oldest);
    await old.close();
  }

  /** Closes every idle handle; handles still in use are closed when given back. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.values()];
    this.#idle.clear();
    await Promise.all(all.map((fh) => fh.close()));
  }
}
