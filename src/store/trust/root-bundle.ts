// The self-contained file `castor root export` writes: a SignedRoot and the bytes of its
// Index (protos/index.proto RootBundle), for carrying a root offline. Reading it checks
// only the framing; the acceptance rules (checkRoot) decide whether it is believed.

import { MalformedRootError } from './errors.js';
import { type SignedRoot, decodeSignedRoot, encodeSignedRoot } from './signed-root.js';
import { WIRE_LEN, WireError, WireReader, WireWriter } from './wire.js';

export const BUNDLE_MAGIC = 'castor-root-bundle-v1';

export interface RootBundle {
  readonly root: SignedRoot;
  /** The Index blob's bytes (a view into the bundle when decoded). */
  readonly index: Uint8Array;
}

export function encodeRootBundle(bundle: RootBundle): Uint8Array {
  const root = encodeSignedRoot(bundle.root);
  const w = new WireWriter(64 + root.length + bundle.index.length);
  w.stringField(1, BUNDLE_MAGIC);
  w.messageField(2, root);
  w.bytesField(3, bundle.index);
  return w.finish();
}

/** Decodes a bundle, canonical form only. Throws MalformedRootError. */
export function decodeRootBundle(bytes: Uint8Array): RootBundle {
  let rootBytes: Uint8Array;
  let index: Uint8Array;
  try {
    const r = new WireReader(bytes);
    if (!r.next(1, WIRE_LEN) || r.readString() !== BUNDLE_MAGIC) throw new MalformedRootError('bundle', `not a castor root bundle (no "${BUNDLE_MAGIC}" header)`);
    if (!r.next(2, WIRE_LEN)) r.fail('root (field 2) missing');
    rootBytes = r.readBytes();
    index = r.next(3, WIRE_LEN) ? r.nonEmptyBytes() : new Uint8Array(0);
    r.expectEnd();
  } catch (err: unknown) {
    if (err instanceof WireError) throw new MalformedRootError('bundle', err.message, { cause: err });
    throw err;
  }
  return { root: decodeSignedRoot(rootBytes, 'bundle root'), index };
}
