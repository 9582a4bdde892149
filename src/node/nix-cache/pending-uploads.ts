// NARs uploaded (PUT /nar/...) whose narinfo has not come yet, by URL. Their trees are in
// the store but belong to no path: an entry lives PENDING_UPLOAD_TTL at most, then is
// forgotten, and gc (whose grace period is longer) reclaims the unreferenced blobs.

import type { Node } from '../../store/index.js';
import { MAX_PENDING_UPLOADS, PENDING_UPLOAD_TTL } from './limits.js';

export interface PendingNar {
  /** The castore root the NAR was ingested to. */
  readonly node: Node;
  readonly narHash: Uint8Array;
  readonly narSize: number;
  /** sha256 and size of the file as uploaded (compressed). */
  readonly fileHash: Uint8Array;
  readonly fileSize: number;
}

export class PendingUploads {
  readonly #entries = new Map<string, { nar: PendingNar; expires: number }>();

  constructor(private readonly ttl = PENDING_UPLOAD_TTL, private readonly max = MAX_PENDING_UPLOADS, private readonly now: () => number = Date.now) {}

  /** Keeps `nar` under `url` (replacing an older one), dropping the oldest past the cap. */
  set(url: string, nar: PendingNar): void {
    this.#sweep();
    this.#entries.delete(url);
    this.#entries.set(url, { nar, expires: this.now() + this.ttl });
    while (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get(url: string): PendingNar | undefined {
    this.#sweep();
    return this.#entries.get(url)?.nar;
  }

  get size(): number {
    this.#sweep();
    return this.#entries.size;
  }

  /** Entries are kept in insertion order, so the expired ones are at the front. */
  #sweep(): void {
    const now = this.now();
    for (const [url, e] of this.#entries) {
      if (e.expires > now) break;
      this.#entries.delete(url);
    }
  }
}
