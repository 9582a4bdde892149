// The node's persistent peer identity: an ed25519 libp2p private key kept in the data dir
// as `identity.key` (libp2p's protobuf key encoding, mode 0600), created on first start.
// The peer id, and so every address others keep for this node, follows from it.

import { chmod, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { CastorError } from '../verify/index.js';

export const IDENTITY_FILE = 'identity.key';
const IDENTITY_MODE = 0o600;
/** A protobuf ed25519 private key is 68 bytes; anything far larger is not one. */
const MAX_IDENTITY_BYTES = 4096;

/** identity.key exists but is not an ed25519 libp2p private key. */
export class IdentityError extends CastorError {
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super('BAD_IDENTITY', `${file}: ${detail} (move it away to get a new identity, which changes the peer id)`, file, options);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Parses the bytes of an identity file; throws IdentityError. */
export function parseIdentity(file: string, bytes: Uint8Array): PrivateKey {
  if (bytes.length === 0) throw new IdentityError(file, 'is empty');
  if (bytes.length > MAX_IDENTITY_BYTES) throw new IdentityError(file, `is ${bytes.length} bytes, not a private key`);
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err: unknown) {
    throw new IdentityError(file, `is not a libp2p private key (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (key.type !== 'Ed25519') throw new IdentityError(file, `holds a ${key.type} key, castor uses Ed25519`);
  return key;
}

/**
 * The identity in `dataDir`, created (mode 0600, written to a temporary name and renamed
 * into place, so two nodes starting at once end with one identity) if there is none.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<PrivateKey> {
  const file = path.join(dataDir, IDENTITY_FILE);
  try {
    return parseIdentity(file, await readFile(file));
  } catch (err: unknown) {
    if (!isNotFound(err)) throw err;
  }
  const key = await generateKeyPair('Ed25519');
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(temp, 'wx', IDENTITY_MODE);
  try {
    await fh.writeFile(privateKeyToProtobuf(key));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(temp, IDENTITY_MODE);
  try {
    // link-like publish: keep an identity another starter wrote first.
    await readFile(file).then(
      async () => { await rm(temp, { force: true }); },
      async (err: unknown) => {
        if (!isNotFound(err)) throw err;
        await rename(temp, file);
      },
    );
  } catch (err: unknown) {
    await rm(temp, { force: true });
    throw err;
  }
  return parseIdentity(file, await readFile(file));
}
