// One NAR into castore, checked against what its narinfo claims: decompressed as the
// narinfo says, ingested, and its sha256 and size compared with NarHash and NarSize (and,
// for a content-addressed path, its content with the CA hash). Only a NAR that passes
// yields a root node a PathInfo may name.

import { createHash, type Hash } from 'node:crypto';
import type { BlobService } from '../blob-service.js';
import type { Node } from '../castore/index.js';
import { asDigest } from '../digest.js';
import type { DirectoryService } from '../directory-service.js';
import { CastorError, nix32Encode } from '../../verify/index.js';
import { type ContentAddress, formatContentAddress } from './content-address.js';
import { decompress, DecompressError } from './decompress.js';
import { formatNixHash } from './hash-text.js';
import { ingestNar } from './nar-ingest.js';
import type { Compression } from './narinfo.js';

/** A NAR that is not the one its narinfo describes. `value` is the store path. */
export class NarMismatchError extends CastorError {
  constructor(storePath: string, what: 'NarHash' | 'NarSize' | 'CA', claimed: string, actual: string) {
    super('NAR_MISMATCH', `${storePath}: the NAR does not match its ${what}: claimed ${claimed}, got ${actual}`, storePath);
  }
}

export interface NarImportExpect {
  readonly storePath: string;
  readonly narHash?: Uint8Array;
  readonly narSize?: number;
  /** Checked against the content when given (a CA path believed for its CA alone). */
  readonly ca?: ContentAddress;
}

export interface NarImportOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  /** Called with the uncompressed bytes read so far. */
  readonly onBytes?: (narBytes: number) => void;
}

export interface NarImportResult {
  readonly node: Node;
  readonly narHash: Uint8Array;
  readonly narSize: number;
}

/**
 * Ingests the NAR in `file` (compressed with `compression`) and checks it against
 * `expect`. Throws NarMismatchError, or the decoder's, parser's or store's error; the
 * blobs stored on the way stay unreferenced until gc.
 */
export async function importNar(
  file: AsyncIterable<Uint8Array>, compression: Compression, expect: NarImportExpect, options: NarImportOptions,
): Promise<NarImportResult> {
  const { storePath, narHash, narSize, ca } = expect;
  // A NAR hash in an algorithm other than sha256 (fixed:r:sha1 ...) is taken in the same pass.
  const caNarHash: Hash | undefined = ca?.method === 'nar' && ca.algo !== 'sha256' ? createHash(ca.algo) : undefined;
  let seen = 0;
  async function* observed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of decompress(compression, file, narSize === undefined ? {} : { maxOutputBytes: narSize })) {
      caNarHash?.update(chunk);
      seen += chunk.length;
      options.onBytes?.(seen);
      yield chunk;
    }
  }
  let result: NarImportResult;
  try {
    result = await ingestNar(observed(), options);
  } catch (err: unknown) {
    // Output beyond NarSize is a NAR that is not the one claimed, whatever the decoder calls it.
    if (narSize !== undefined && err instanceof DecompressError && err.reason === 'TOO_LARGE') {
      throw new NarMismatchError(storePath, 'NarSize', String(narSize), `more than ${narSize} bytes`);
    }
    throw err;
  }
  if (narSize !== undefined && result.narSize !== narSize) throw new NarMismatchError(storePath, 'NarSize', String(narSize), String(result.narSize));
  if (narHash !== undefined && !Buffer.from(narHash).equals(result.narHash)) {
    throw new NarMismatchError(storePath, 'NarHash', formatNixHash('sha256', narHash), formatNixHash('sha256', result.narHash));
  }
  if (ca !== undefined) await checkContent(storePath, ca, result, caNarHash, options.blobs);
  return result;
}

/** The content hash a CA names, taken from what was ingested. */
async function checkContent(storePath: string, ca: ContentAddress, got: NarImportResult, caNarHash: Hash | undefined, blobs: BlobService): Promise<void> {
  let actual: Uint8Array;
  if (ca.method === 'nar') {
    actual = caNarHash === undefined ? got.narHash : new Uint8Array(caNarHash.digest());
  } else {
    // text and flat hash a single file's bytes.
    const file = 'file' in got.node ? got.node.file : undefined;
    if (file === undefined || (ca.method === 'text' && file.executable)) {
      throw new NarMismatchError(storePath, 'CA', formatContentAddress(ca), ca.method === 'text' ? 'not a plain file' : 'not a file');
    }
    const h = createHash(ca.algo);
    const body = await blobs.read(asDigest(file.digest));
    if (body === undefined) throw new NarMismatchError(storePath, 'CA', formatContentAddress(ca), 'its file is not in the store');
    for await (const piece of body) h.update(piece);
    actual = new Uint8Array(h.digest());
  }
  if (!Buffer.from(actual).equals(ca.digest)) {
    throw new NarMismatchError(storePath, 'CA', formatContentAddress(ca), `${ca.algo}:${nix32Encode(actual)}`);
  }
}
