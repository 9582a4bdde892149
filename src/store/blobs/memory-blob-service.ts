// MemoryBlobService: blobs kept whole in a Map, for tests and short-lived composition.
// It keeps no chunk list; reads still go through the verifying decoder, like every store.

import { Hasher, toHex } from '../../verify/index.js';
import { BytesReader, withHeader } from '../../verify/index.js';
import {
  BLOB_GROUP_LOG, checkBytes, checkDigest, checkReadRange, CorruptRecordError, WriterClosedError,
  type BlobService, type BlobStat, type BlobWriter, type Digest, type ReadRange,
} from '../blob-service.js';
import { asDigest } from '../digest.js';
import { verifiedRead } from './verified-read.js';

interface Entry {
  readonly data: Uint8Array;
  readonly outboard: Uint8Array;
}

export class MemoryBlobService implements BlobService {
  readonly #blobs = new Map<string, Entry>();

  async has(digest: Digest): Promise<boolean> {
    return this.#blobs.has(toHex(checkDigest(digest)));
  }

  async stat(digest: Digest): Promise<BlobStat | undefined> {
    const e = this.#blobs.get(toHex(checkDigest(digest)));
    // A copy: callers must not be able to change what later reads verify against.
    return e && { size: e.data.length, chunks: [], outboard: e.outboard.slice() };
  }

  async read(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array> | undefined> {
    const e = this.#blobs.get(toHex(checkDigest(digest)));
    const r = checkReadRange(range);
    if (!e) return undefined;
    return verifiedRead({
      digest,
      outboard: new BytesReader(e.outboard),
      data: new BytesReader(e.data),
      range: r,
      blame: async (err) => new CorruptRecordError(digest, 'data or outboard fails verification', { cause: err }),
    });
  }

  openWriter(): BlobWriter {
    return new MemoryBlobWriter((hex, entry) => {
      if (this.#blobs.has(hex)) return false;
      this.#blobs.set(hex, entry);
      return true;
    });
  }
}

class MemoryBlobWriter implements BlobWriter {
  #hasher: Hasher | undefined = new Hasher({ groupLog: BLOB_GROUP_LOG });
  #pieces: Uint8Array[] = [];
  #state: 'open' | 'closed' | 'aborted' = 'open';
  newBytes: number | undefined;

  /** `publish` resolves to false when the blob was already stored. */
  constructor(private readonly publish: (hex: string, entry: Entry) => boolean) {}

  async write(bytes: Uint8Array): Promise<void> {
    checkBytes(bytes);
    if (this.#state !== 'open') throw new WriterClosedError(this.#state);
    // Copied: the caller may reuse its buffer once write resolves.
    this.#pieces.push(bytes.slice());
    this.#hasher!.update(bytes);
  }

  async close(): Promise<Digest> {
    if (this.#state !== 'open') throw new WriterClosedError(this.#state);
    this.#state = 'closed';
    const r = this.#hasher!.finalize();
    const data = new Uint8Array(Buffer.concat(this.#pieces));
    this.#release();
    const added = this.publish(toHex(r.hash), { data, outboard: withHeader(r.length, r.nodes!) });
    this.newBytes = added ? data.length : 0;
    return asDigest(r.hash);
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#release();
  }

  #release(): void {
    this.#pieces = [];
    this.#hasher = undefined;
  }
}
