// A set of 32-byte digests kept flat in one byte array (open addressing, linear probing),
// for the walks over a whole store that fsck and gc make: a million chunk digests take
// about 50 MiB here, against two to three times that as a Set of hex strings.

import { randomBytes } from 'node:crypto';
import { DIGEST_LENGTH } from '../digest.js';

const MAX_LOAD = 0.7;

export class DigestSet {
  #slots: Uint8Array;
  #used: Uint8Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n * MAX_LOAD < capacity) n *= 2;
    this.#slots = new Uint8Array(n * DIGEST_LENGTH);
    this.#used = new Uint8Array(n);
    this.#mask = n - 1;
  }

  get size(): number {
    return this.#size;
  }

  has(digest: Uint8Array): boolean {
    return this.#find(digest) >= 0;
  }

  /** Adds `digest` (copied); false if it was already there. */
  add(digest: Uint8Array): boolean {
    if (this.#find(digest) >= 0) return false;
    if (this.#size + 1 > (this.#mask + 1) * MAX_LOAD) this.#grow();
    this.#insert(digest);
    this.#size++;
    return true;
  }

  *[Symbol.iterator](): Generator<Uint8Array> {
    for (let i = 0; i <= this.#mask; i++) {
      if (this.#used[i]) yield this.#slots.slice(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH);
    }
  }

  /** Slot index of `digest`, or -1. */
  #find(digest: Uint8Array): number {
    checkLength(digest);
    for (let i = start(digest, this.#mask); this.#used[i]; i = (i + 1) & this.#mask) {
      if (this.#equalAt(i, digest)) return i;
    }
    return -1;
  }

  #insert(digest: Uint8Array): void {
    let i = start(digest, this.#mask);
    while (this.#used[i]) i = (i + 1) & this.#mask;
    this.#slots.set(digest, i * DIGEST_LENGTH);
    this.#used[i] = 1;
  }

  #equalAt(i: number, digest: Uint8Array): boolean {
    const base = i * DIGEST_LENGTH;
    for (let j = 0; j < DIGEST_LENGTH; j++) if (this.#slots[base + j] !== digest[j]) return false;
    return true;
  }

  #grow(): void {
    const slots = this.#slots;
    const used = this.#used;
    const n = (this.#mask + 1) * 2;
    this.#slots = new Uint8Array(n * DIGEST_LENGTH);
    this.#used = new Uint8Array(n);
    this.#mask = n - 1;
    for (let i = 0; i < used.length; i++) {
      if (used[i]) this.#insert(slots.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH));
    }
  }
}

function checkLength(digest: Uint8Array): void {
  if (digest.length !== DIGEST_LENGTH) throw new RangeError(`digest is ${digest.length} bytes, not ${DIGEST_LENGTH}`);
}

// Slot choice mixes all eight words with keys drawn per process: stored digests are
// hashes, but digests named inside Directories come from whoever wrote them, and ones
// chosen to share a prefix must not turn every probe into a scan.
const KEYS = ((raw) => Uint32Array.from({ length: 8 }, (_, w) => raw.readUInt32LE(4 * w) | 1))(randomBytes(32));

function start(digest: Uint8Array, mask: number): number {
  let h = 0;
  for (let w = 0; w < 8; w++) {
    const j = 4 * w;
    const word = digest[j]! | (digest[j + 1]! << 8) | (digest[j + 2]! << 16) | (digest[j + 3]! << 24);
    h = (h + Math.imul(word, KEYS[w]!)) | 0;
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) & mask;
}
