// PathInfos kept in the data dir (nix/path-info/<hashPart>, each an Index of one entry),
// published crash-safe (tmp/, fsync, rename), closed under references, signatures checked
// on the way in. gc keeps every PathInfo's root node (pathInfoRoots).

import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CastorError, type PublicKey } from '../../verify/index.js';
import { encodeNode } from '../castore/index.js';
import { asDigest, type Digest, formatDigest } from '../digest.js';
import { ensureDir, fsError, type FsLayout, isNotFound, moveInto, syncDir, writeSynced } from '../fs/index.js';
import { decodeEntryAt, encodeIndex } from '../trust/index.js';
import { checkPathInfo, fromIndexEntry, InvalidPathInfoError, isSignedBy, type PathInfo, toIndexEntry } from './path-info.js';
import { checkHashPart, compareStorePaths, HASH_PART_LENGTH, parseStorePath, STORE_DIR } from './store-path.js';

/** The folder under the data dir, and its subfolder of records. */
export const NIX_DIR = 'nix';
export const PATH_INFO_DIR = 'path-info';
/** First bytes of a record: the format and its version. */
const MAGIC = new TextEncoder().encode('castor-path-info-1\n');
/** Records larger than this are refused unread (a PathInfo with some 50,000 references). */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/** A put whose references (other than itself) are not all present. `value`: the first missing path. */
export class MissingReferenceError extends CastorError {
  constructor(readonly storePath: string, readonly missing: readonly string[]) {
    super('NIX_MISSING_REFERENCE', `${storePath} references ${missing[0]}${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}, which is not present`, missing[0]);
  }
}

/** A put with no signature by a trusted Nix key (and not content-addressed, and not told to skip the check). `value`: the path. */
export class NixSignatureError extends CastorError {
  constructor(readonly storePath: string, detail: string) {
    super('NIX_SIGNATURE', `${storePath}: ${detail}`, storePath);
  }
}

/** A put whose root Directory or blob is not in the store. `value`: the path. */
export class MissingRootError extends CastorError {
  constructor(readonly storePath: string, kind: string, digest: Digest) {
    super('NIX_MISSING_ROOT', `${storePath}: its root ${kind} ${formatDigest(digest)} is not in the store`, storePath);
  }
}

/** A delete of a path another present path references. `value`: the path. */
export class PathInUseError extends CastorError {
  constructor(readonly storePath: string, readonly referrers: readonly string[]) {
    super('NIX_PATH_IN_USE', `${storePath} is referenced by ${referrers[0]}${referrers.length > 1 ? ` and ${referrers.length - 1} more` : ''}`, storePath);
  }
}

/** A put of a path already present with another NAR or root. `value`: the path. */
export class PathConflictError extends CastorError {
  constructor(readonly storePath: string) {
    super('NIX_PATH_CONFLICT', `${storePath} is already present with another narHash or root node`, storePath);
  }
}

/** A record in nix/path-info/ that does not decode, or names another path than its file. `value`: the file. */
export class CorruptPathInfoError extends CastorError {
  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('CORRUPT_PATH_INFO', `path info record ${file}: ${detail}`, file, options);
  }
}

export interface PutOptions {
  /** Keys whose signature admits a path that is not content-addressed. @default [] */
  readonly trustedKeys?: readonly PublicKey[];
  /** Admit the path without a trusted signature (`--no-check-sigs`). @default false */
  readonly noCheckSigs?: boolean;
}

export interface PathInfoStoreOptions {
  /** fsync records and their directories. @default true */
  readonly durable?: boolean;
  /** Asked before a put: is the root node's Directory or blob in the store? Omitted: not asked. */
  readonly hasRoot?: (digest: Digest, kind: 'directory' | 'file') => Promise<boolean>;
}

/** The root node's Directory or blob digest, or undefined for a symlink (it names nothing). */
export function rootDigestOf(info: PathInfo): { digest: Digest; kind: 'directory' | 'file' } | undefined {
  const node = info.node;
  if (node === undefined) return undefined;
  if ('directory' in node && node.directory !== undefined) return { digest: asDigest(node.directory.digest), kind: 'directory' };
  if ('file' in node && node.file !== undefined) return { digest: asDigest(node.file.digest), kind: 'file' };
  return undefined;
}

export class PathInfoStore {
  readonly dir: string;
  readonly #layout: FsLayout;
  readonly #durable: boolean;
  readonly #hasRoot: PathInfoStoreOptions['hasRoot'];
  #dirReady = false;

  constructor(layout: FsLayout, options: PathInfoStoreOptions = {}) {
    this.#layout = layout;
    this.dir = path.join(layout.root, NIX_DIR, PATH_INFO_DIR);
    this.#durable = options.durable ?? true;
    this.#hasRoot = options.hasRoot;
  }

  #file(hashPart: string): string {
    return path.join(this.dir, hashPart);
  }

  /**
   * Stores `info` (which must have a root node). Refuses it (typed errors) unless it checks
   * (INVALID_PATH_INFO), is signed by a trusted key or content-addressed or `noCheckSigs`
   * (NIX_SIGNATURE), every reference other than itself is present (NIX_MISSING_REFERENCE),
   * and, when the store was given `hasRoot`, its root is in the store. A path already
   * present with the same narHash and root gains the new signatures; with another, it is
   * refused (NIX_PATH_CONFLICT). Resolves to what is stored.
   */
  async put(input: PathInfo, options: PutOptions = {}): Promise<PathInfo> {
    const info = checkPathInfo(input);
    const root = rootDigestOf(info);
    if (info.node === undefined) throw new InvalidPathInfoError('a stored path info needs its root node', info.storePath);
    if (info.ca === undefined && options.noCheckSigs !== true && !isSignedBy(info, options.trustedKeys ?? [])) {
      const detail = info.signatures.length === 0 ? 'no signature, and not content-addressed' : 'no signature by a trusted Nix key';
      throw new NixSignatureError(info.storePath, detail);
    }
    const missing: string[] = [];
    for (const ref of info.references) {
      if (ref !== info.storePath && !(await this.has(ref))) missing.push(ref);
    }
    if (missing.length > 0) throw new MissingReferenceError(info.storePath, missing);
    if (root !== undefined && this.#hasRoot !== undefined && !(await this.#hasRoot(root.digest, root.kind))) {
      throw new MissingRootError(info.storePath, root.kind, root.digest);
    }
    const old = await this.get(info.storePath);
    let next = info;
    if (old !== undefined) {
      if (!sameContent(old, info)) throw new PathConflictError(info.storePath);
      next = checkPathInfo({ ...old, signatures: [...old.signatures, ...info.signatures] });
      if (next.signatures.length === old.signatures.length) return old;
    }
    await this.#write(next);
    return next;
  }

  async #write(info: PathInfo): Promise<void> {
    const { hashPart } = parseStorePath(info.storePath);
    // An Index of one entry: the same bytes a publisher's Index would hold for the path.
    const entry = encodeIndex([toIndexEntry(info)]);
    const bytes = new Uint8Array(MAGIC.length + entry.length);
    bytes.set(MAGIC, 0);
    bytes.set(entry, MAGIC.length);
    if (!this.#dirReady) {
      await ensureDir(this.#layout.tmp);
      await ensureDir(path.dirname(this.dir));
      await ensureDir(this.dir);
      this.#dirReady = true;
    }
    const tmp = this.#layout.newTempPath('path-info-');
    await writeSynced(tmp, bytes, this.#durable);
    try {
      const dirs = await moveInto(tmp, this.#file(hashPart));
      if (this.#durable) for (const d of dirs) await syncDir(d);
    } catch (err: unknown) {
      await unlink(tmp).catch(() => undefined); // already reported: the rename's failure
      throw err;
    }
  }

  /** The PathInfo of a store path or hash part; undefined when absent (or present under another name). */
  async get(pathOrHashPart: string): Promise<PathInfo | undefined> {
    const { hashPart, storePath } = key(pathOrHashPart);
    const info = await this.#read(hashPart);
    if (info === undefined || (storePath !== undefined && info.storePath !== storePath)) return undefined;
    return info;
  }

  async #read(hashPart: string): Promise<PathInfo | undefined> {
    const file = this.#file(hashPart);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      throw fsError(err, file, 'reading');
    }
    if (bytes.length > MAX_RECORD_BYTES) throw new CorruptPathInfoError(file, `${bytes.length} bytes`);
    if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) throw new CorruptPathInfoError(file, 'not a path info record');
    let info: PathInfo;
    try {
      info = fromIndexEntry(decodeEntryAt(bytes, MAGIC.length, bytes.length));
    } catch (err: unknown) {
      throw new CorruptPathInfoError(file, err instanceof Error ? err.message : String(err), { cause: err });
    }
    if (parseStorePath(info.storePath).hashPart !== hashPart) throw new CorruptPathInfoError(file, `holds ${info.storePath}`);
    return info;
  }

  async has(pathOrHashPart: string): Promise<boolean> {
    return (await this.get(pathOrHashPart)) !== undefined;
  }

  /** Hash parts of every stored path, sorted. */
  async hashParts(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err: unknown) {
      if (isNotFound(err)) return [];
      throw fsError(err, this.dir, 'listing');
    }
    return names.filter((n) => n.length === HASH_PART_LENGTH && isHashPart(n)).sort();
  }

  /** Every stored PathInfo, sorted by store path. */
  async list(): Promise<PathInfo[]> {
    const out: PathInfo[] = [];
    for (const h of await this.hashParts()) {
      const info = await this.#read(h);
      if (info !== undefined) out.push(info); // deleted meanwhile: not listed
    }
    return out.sort((a, b) => compareStorePaths(a.storePath, b.storePath));
  }

  /**
   * Removes a path's PathInfo (its tree stays until gc finds nothing else keeps it).
   * Refused while another present path references it (NIX_PATH_IN_USE). Resolves to
   * false when it was not present. A put racing a delete can leave the new path
   * referencing the deleted one; callers that need more run them under one lock.
   */
  async delete(storePath: string): Promise<boolean> {
    const { hashPart } = parseStorePath(storePath);
    if (!(await this.has(storePath))) return false;
    const referrers = (await this.list())
      .filter((i) => i.storePath !== storePath && i.references.includes(storePath))
      .map((i) => i.storePath);
    if (referrers.length > 0) throw new PathInUseError(storePath, referrers);
    const file = this.#file(hashPart);
    try {
      await unlink(file);
    } catch (err: unknown) {
      if (isNotFound(err)) return false;
      throw fsError(err, file, 'removing');
    }
    if (this.#durable) await syncDir(this.dir);
    return true;
  }

  /**
   * The closure of `paths` (each and everything it references, transitively), in
   * dependency order: every path after the paths it references, ties by store path.
   * Throws MissingReferenceError if a path or reference is absent.
   */
  async closure(paths: readonly string[]): Promise<PathInfo[]> {
    const infos = new Map<string, PathInfo>();
    const queue = paths.map((p) => parseStorePath(p).path);
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      if (infos.has(p)) continue;
      const info = await this.get(p);
      if (info === undefined) throw new MissingReferenceError(p, [p]);
      infos.set(p, info);
      for (const r of info.references) if (!infos.has(r)) queue.push(r);
    }
    const order: PathInfo[] = [];
    const done = new Set<string>();
    const visit = (p: string): void => {
      if (done.has(p)) return;
      done.add(p); // first: a cycle (only self-references in Nix) ends here
      const info = infos.get(p)!;
      for (const r of info.references) visit(r);
      order.push(info);
    };
    for (const p of [...infos.keys()].sort(compareStorePaths)) visit(p);
    return order;
  }
}

function isHashPart(text: string): boolean {
  try {
    checkHashPart(text);
    return true;
  } catch {
    return false;
  }
}

function key(pathOrHashPart: string): { hashPart: string; storePath?: string } {
  if (typeof pathOrHashPart === 'string' && pathOrHashPart.startsWith(`${STORE_DIR}/`)) {
    const p = parseStorePath(pathOrHashPart);
    return { hashPart: p.hashPart, storePath: p.path };
  }
  return { hashPart: checkHashPart(pathOrHashPart) };
}

/** Same NAR, references and root: a put of it again may only add signatures. */
function sameContent(a: PathInfo, b: PathInfo): boolean {
  return Buffer.from(a.narHash).equals(b.narHash)
    && a.narSize === b.narSize
    && JSON.stringify(a.references) === JSON.stringify(b.references)
    && Buffer.from(encodeNode(a.node!)).equals(encodeNode(b.node!));
}

/**
 * The digests gc must keep for PathInfos: each stored path's root Directory or blob
 * (the collector walks below). A record that does not read stops the walk with its
 * error: a collector must not delete what an unreadable PathInfo might keep.
 */
export async function* pathInfoRoots(layout: FsLayout): AsyncGenerator<Digest> {
  const store = new PathInfoStore(layout);
  for (const h of await store.hashParts()) {
    const info = await store.get(h);
    const root = info === undefined ? undefined : rootDigestOf(info);
    if (root !== undefined) yield root.digest;
  }
}
