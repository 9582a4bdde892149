// What a data dir remembers about roots, under <data>/trust/:
//
//   roots/<public key hex>.json   the last accepted root of each key (rollback protection)
//   lookup/<index digest hex>     the lookup table of an accepted Index (lookup-table.ts)
//   evidence/<key hex>-<seq>-<index hex>.equivocation   Equivocation messages (both roots)
//   publishers/<key hex>.public   keys this data dir published with, which it trusts
//
// Every file is written in tmp/, fsynced and renamed into place, so a crash leaves the
// old state or the new, never a torn one. A per-key lock file serialises acceptance
// across processes, so two importers cannot interleave a rollback between them.

import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { blake3, toHex } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';
import { type PublicKey, formatPublicKey, parsePublicKey } from '../../verify/index.js';
import { ensureDir, moveInto, syncDir, writeSynced } from '../fs/index.js';
import { type Digest, asDigest, digestEquals, parseDigest } from '../digest.js';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { LookupTable } from './lookup-table.js';
import { type SignedRoot, decodeSignedRoot, encodeEquivocation, encodeSignedRoot, rootKey } from './signed-root.js';

export const ROOTS_DIR = 'roots';
export const LOOKUP_DIR = 'lookup';
export const EVIDENCE_DIR = 'evidence';
export const PUBLISHERS_DIR = 'publishers';
const RECORD_FORMAT = 'castor-accepted-root-v1';
const TEMP_PREFIX = 't-';
/** How long to wait for another process's lock on a key before giving up. */
export const LOCK_TIMEOUT_MS = 30_000;
const LOCK_POLL_MS = 20;

/** A root this data dir accepted, as recorded. */
export interface AcceptedRoot {
  readonly root: SignedRoot;
  /** Number of entries in its Index. */
  readonly entries: number;
  /** BLAKE3 of the lookup table file, so a damaged one is rebuilt, never trusted. */
  readonly lookupDigest: Digest;
  /** When this data dir accepted it (ISO 8601). */
  readonly acceptedAt: string;
}

interface RecordJson {
  format: string;
  key: string;
  root: string;
  entries: number;
  lookup: string;
  acceptedAt: string;
}

/** A file under trust/ that cannot be read as what it should be. */
export class TrustStateError extends CastorError {
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super('CORRUPT_TRUST_STATE', `${file}: ${detail}`, file, options);
  }
}

export function keyHex(publicKey: Uint8Array): string {
  return toHex(publicKey);
}

export class TrustState {
  readonly dir: string;
  readonly #layout: FsLayout;
  readonly #durable: boolean;

  constructor(layout: FsLayout, options: { durable?: boolean } = {}) {
    this.#layout = layout;
    this.dir = layout.trust;
    this.#durable = options.durable ?? true;
  }

  #path(sub: string, file: string): string {
    return path.join(this.dir, sub, file);
  }

  /** Publishes `bytes` as trust/<sub>/<file>, replacing what was there, crash-safely. */
  async #publish(sub: string, file: string, bytes: Uint8Array): Promise<void> {
    await ensureDir(this.dir);
    await ensureDir(path.join(this.dir, sub));
    await ensureDir(this.#layout.tmp);
    const temp = this.#layout.newTempPath(TEMP_PREFIX);
    await writeSynced(temp, bytes, this.#durable);
    try {
      const dirs = await moveInto(temp, this.#path(sub, file));
      if (this.#durable) for (const d of dirs) await syncDir(d);
    } catch (err: unknown) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  async #readOptional(file: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(file);
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      throw fsError(err, file, 'reading');
    }
  }

  async #names(sub: string): Promise<string[]> {
    try {
      return (await readdir(path.join(this.dir, sub))).sort();
    } catch (err: unknown) {
      if (isNotFound(err)) return [];
      throw fsError(err, path.join(this.dir, sub), 'listing');
    }
  }

  /** The last root accepted for `publicKey`, or undefined. */
  async accepted(publicKey: Uint8Array): Promise<AcceptedRoot | undefined> {
    const file = this.#path(ROOTS_DIR, `${keyHex(publicKey)}.json`);
    const bytes = await this.#readOptional(file);
    if (bytes === undefined) return undefined;
    const record = this.#parseRecord(file, bytes);
    if (!digestEquals(record.root.publicKey, publicKey)) throw new TrustStateError(file, 'names another key than its file name');
    return record;
  }

  #parseRecord(file: string, bytes: Uint8Array): AcceptedRoot {
    let json: RecordJson;
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8')) as RecordJson;
    } catch (err: unknown) {
      throw new TrustStateError(file, 'is not JSON', { cause: err });
    }
    if (json === null || typeof json !== 'object' || json.format !== RECORD_FORMAT) throw new TrustStateError(file, `is not a ${RECORD_FORMAT} record`);
    try {
      const root = decodeSignedRoot(new Uint8Array(Buffer.from(String(json.root), 'base64')), 'recorded root');
      if (!Number.isSafeInteger(json.entries) || json.entries < 0) throw new TrustStateError(file, 'entry count is not a count');
      return { root, entries: json.entries, lookupDigest: parseDigest(String(json.lookup)), acceptedAt: String(json.acceptedAt) };
    } catch (err: unknown) {
      if (err instanceof TrustStateError) throw err;
      throw new TrustStateError(file, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /** Every accepted root, in key order. */
  async list(): Promise<AcceptedRoot[]> {
    const out: AcceptedRoot[] = [];
    for (const name of await this.#names(ROOTS_DIR)) {
      if (!/^[0-9a-f]{64}\.json$/u.test(name)) continue;
      const record = await this.accepted(new Uint8Array(Buffer.from(name.slice(0, 64), 'hex')));
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  /** Publishes the lookup table of `root`'s Index; resolves to its digest, which the record names. */
  async writeLookup(root: SignedRoot, table: Uint8Array): Promise<Digest> {
    await this.#publish(LOOKUP_DIR, toHex(root.indexDigest), table);
    return asDigest(blake3(table));
  }

  /**
   * Records `root` as the key's last accepted root, with the lookup table of its Index
   * (`entries` entries). The table goes first, so a record never names one that is not there.
   */
  async record(root: SignedRoot, entries: number, table: Uint8Array, now = new Date()): Promise<AcceptedRoot> {
    const lookupDigest = await this.writeLookup(root, table);
    const accepted: AcceptedRoot = { root, entries, lookupDigest, acceptedAt: now.toISOString() };
    const json: RecordJson = {
      format: RECORD_FORMAT,
      key: formatPublicKey(rootKey(root)),
      root: Buffer.from(encodeSignedRoot(root)).toString('base64'),
      entries: accepted.entries,
      lookup: toHex(lookupDigest),
      acceptedAt: accepted.acceptedAt,
    };
    await this.#publish(ROOTS_DIR, `${keyHex(root.publicKey)}.json`, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
    return accepted;
  }

  /** Drops the lookup file of an Index no recorded root names any more (it is derived data, rebuilt on demand). */
  async dropLookup(indexDigest: Digest): Promise<void> {
    if ((await this.list()).some((a) => digestEquals(a.root.indexDigest, indexDigest))) return;
    await rm(this.#path(LOOKUP_DIR, toHex(indexDigest)), { force: true });
  }

  /** The lookup table recorded for `accepted`, or undefined if it is missing, does not match its digest, or does not parse. */
  async lookupTable(accepted: AcceptedRoot): Promise<LookupTable | undefined> {
    const bytes = await this.#readOptional(this.#path(LOOKUP_DIR, toHex(accepted.root.indexDigest)));
    if (bytes === undefined || !digestEquals(blake3(bytes), accepted.lookupDigest)) return undefined;
    return LookupTable.parse(bytes, accepted.entries, Number(accepted.root.indexSize));
  }

  /** Keeps the proof that a key signed two indexes under one sequence. Resolves to the file written. */
  async recordEquivocation(accepted: SignedRoot, conflicting: SignedRoot): Promise<string> {
    const name = `${keyHex(accepted.publicKey)}-${conflicting.sequence}-${toHex(conflicting.indexDigest)}.equivocation`;
    await this.#publish(EVIDENCE_DIR, name, encodeEquivocation(accepted, conflicting));
    return this.#path(EVIDENCE_DIR, name);
  }

  /** Paths of the equivocation evidence kept so far. */
  async evidence(): Promise<string[]> {
    return (await this.#names(EVIDENCE_DIR)).filter((n) => n.endsWith('.equivocation')).map((n) => this.#path(EVIDENCE_DIR, n));
  }

  /** Remembers that this data dir publishes with `key`, and so trusts it. */
  async addPublisher(key: PublicKey): Promise<void> {
    const file = `${keyHex(key.publicKey)}.public`;
    const text = formatPublicKey(key);
    const existing = await this.#readOptional(this.#path(PUBLISHERS_DIR, file));
    if (existing !== undefined && Buffer.from(existing).toString('utf8') === text) return;
    await this.#publish(PUBLISHERS_DIR, file, new TextEncoder().encode(text));
  }

  /** The keys this data dir published with. */
  async publishers(): Promise<PublicKey[]> {
    const out: PublicKey[] = [];
    for (const name of await this.#names(PUBLISHERS_DIR)) {
      if (!name.endsWith('.public')) continue;
      const file = this.#path(PUBLISHERS_DIR, name);
      const bytes = await this.#readOptional(file);
      if (bytes === undefined) continue;
      try {
        out.push(parsePublicKey(Buffer.from(bytes).toString('utf8')));
      } catch (err: unknown) {
        throw new TrustStateError(file, err instanceof Error ? err.message : String(err), { cause: err });
      }
    }
    return out;
  }

  /**
   * Runs `body` holding trust/roots/<key>.lock, so accepting for one key is serialised
   * across processes. A lock left by a process that no longer exists is taken over.
   */
  async withKeyLock<T>(publicKey: Uint8Array, body: () => Promise<T>): Promise<T> {
    await ensureDir(this.dir);
    await ensureDir(path.join(this.dir, ROOTS_DIR));
    const lock = this.#path(ROOTS_DIR, `${keyHex(publicKey)}.lock`);
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        const fh = await open(lock, 'wx');
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        break;
      } catch (err: unknown) {
        if (errnoOf(err) !== 'EEXIST') throw fsError(err, lock, 'locking');
      }
      if (await staleLock(lock)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new CastorError('LOCKED', `${lock} is held by another castor process`, lock);
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
    try {
      return await body();
    } finally {
      await rm(lock, { force: true });
    }
  }
}

/** A lock whose process is gone (same host), or one unreadable and over a minute old. */
async function staleLock(lock: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(lock, 'utf8');
  } catch (err: unknown) {
    return isNotFound(err);
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    try {
      return Date.now() - (await stat(lock)).mtimeMs > 60_000;
    } catch {
      return true;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    return errnoOf(err) === 'ESRCH';
  }
}
