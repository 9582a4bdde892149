// The trust layer over one data dir: which keys are trusted, accepting roots (publish,
// import) under checkRoot with the result persisted, and resolving names only through an
// accepted root that is still trusted, correctly signed and unexpired.

import { readFile } from 'node:fs/promises';
import { blake3, toHex } from '../../verify/index.js';
import { CastorError } from '../../verify/index.js';
import { type PublicKey, type SecretKey, formatPublicKey, publicKeyOf } from '../../verify/index.js';
import { type Node, directorySize, showName } from '../castore/index.js';
import type { DataDir } from '../disk/index.js';
import { type Digest, digestEquals, formatDigest } from '../digest.js';
import { type Verdict, checkRoot, isTrustedKey, unixSeconds } from './accept.js';
import { BadSignatureError, EquivocationError, ExpiredRootError, IndexDigestMismatchError, IndexSizeMismatchError, UntrustedKeyError } from './errors.js';
import { encodeIndex, sortEntries } from './index-codec.js';
import { readIndexBlob, readIndexRange, storeIndexBlob } from './index-blob.js';
import { IndexView } from './index-lookup.js';
import { LookupTable, buildLookupTable, findInBlock } from './lookup-table.js';
import type { IndexEntry, NixInfo } from './index-model.js';
import { scanIndex } from './index-scan.js';
import { type RootBundle, encodeRootBundle } from './root-bundle.js';
import { type SignedRoot, showRootKey, signRoot, verifyRootSignature } from './signed-root.js';
import { type AcceptedRoot, TrustState, TrustStateError, keyHex } from './trust-state.js';
import { configTrustedKeys, parseKeyList, uniqueKeys } from './trusted-keys.js';

export interface TrustStoreOptions {
  /** Trusted besides config.json and the data dir's own publishing keys (`--trusted-key`). */
  readonly extraKeys?: readonly PublicKey[];
  /** Unix seconds; injectable for tests. @default the system clock */
  readonly now?: () => bigint;
}

/** No accepted root matches the key asked for. */
export class NoRootError extends CastorError {
  constructor(readonly key: string, detail = 'no accepted root for key') {
    super('NO_ROOT', `${detail} ${JSON.stringify(key)}`, key);
  }
}

/** A publish that cannot be made as asked (unknown digest, removing a name not there). */
export class PublishError extends CastorError {
  constructor(code: string, message: string, value: unknown) {
    super(code, message, value);
  }
}

/** What `publish` changes: names to set (replacing any entry of that name) and names to drop. */
export interface PublishChanges {
  readonly set?: readonly { readonly name: Uint8Array; readonly node?: Node; readonly digest?: Digest; readonly nix?: NixInfo }[];
  readonly remove?: readonly Uint8Array[];
  /** Seconds from now until the root expires; none if undefined. */
  readonly expiresIn?: bigint;
}

export interface AcceptResult {
  readonly verdict: Verdict['kind'];
  readonly accepted: AcceptedRoot;
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

export class TrustStore {
  readonly data: DataDir;
  readonly state: TrustState;
  readonly #extra: readonly PublicKey[];
  readonly #now: () => bigint;

  constructor(data: DataDir, options: TrustStoreOptions = {}) {
    this.data = data;
    this.state = new TrustState(data.layout);
    this.#extra = options.extraKeys ?? [];
    this.#now = options.now ?? (() => unixSeconds());
  }

  /** config.json's keys, the keys this data dir published with, and the extra keys. */
  async trustedKeys(): Promise<PublicKey[]> {
    return uniqueKeys([...(await configTrustedKeys(this.data.layout.config)), ...(await this.state.publishers()), ...this.#extra]);
  }

  /** checkRoot against this data dir's trust and history, storing nothing (`root verify`). */
  async verify(root: SignedRoot, index: Uint8Array): Promise<Verdict> {
    const accepted = await this.state.accepted(root.publicKey);
    return checkRoot(root, index, { trusted: await this.trustedKeys(), accepted: accepted?.root, now: this.#now() });
  }

  /**
   * Applies checkRoot and, if it accepts, stores the Index blob and records the root as
   * the key's last accepted. On EQUIVOCATION the evidence is kept under trust/evidence/
   * (its path set on the error) before the error is rethrown.
   */
  async accept(root: SignedRoot, index: Uint8Array): Promise<AcceptResult> {
    return this.state.withKeyLock(root.publicKey, () => this.#acceptLocked(root, index));
  }

  async #acceptLocked(root: SignedRoot, index: Uint8Array): Promise<AcceptResult> {
    const last = await this.state.accepted(root.publicKey);
    let verdict: Verdict;
    try {
      verdict = checkRoot(root, index, { trusted: await this.trustedKeys(), accepted: last?.root, now: this.#now() });
    } catch (err: unknown) {
      if (err instanceof EquivocationError && last !== undefined) err.evidencePath = await this.state.recordEquivocation(last.root, root);
      throw err;
    }
    if (!(await this.data.blobs.has(root.indexDigest))) {
      const stored = await storeIndexBlob(this.data.blobs, index);
      if (!digestEquals(stored, root.indexDigest)) throw new IndexDigestMismatchError(toHex(root.indexDigest), toHex(stored));
    }
    // The same root again changes nothing, unless it is a later signing (a renewed expiry).
    if (verdict.kind === 'same' && last !== undefined && root.timestamp <= last.root.timestamp) {
      return { verdict: verdict.kind, accepted: last };
    }
    const accepted = await this.state.record(root, verdict.offsets.length - 1, buildLookupTable(index, verdict.offsets));
    if (last !== undefined && !digestEquals(last.root.indexDigest, root.indexDigest)) await this.state.dropLookup(last.root.indexDigest);
    return { verdict: verdict.kind, accepted };
  }

  /**
   * Signs and accepts the next root of `secret`'s key: its last accepted Index with
   * `changes` applied, the sequence one higher. The key becomes trusted by this data dir.
   */
  async publish(secret: SecretKey, changes: PublishChanges): Promise<AcceptResult> {
    const pub = publicKeyOf(secret);
    await this.state.addPublisher(pub);
    return this.state.withKeyLock(pub.publicKey, async () => {
      const last = await this.state.accepted(pub.publicKey);
      const entries = new Map<string, IndexEntry>();
      if (last !== undefined) {
        for (const e of IndexView.scan(await readIndexBlob(this.data.blobs, last.root.indexDigest)).entries()) entries.set(latin1(e.name), e);
      }
      for (const name of changes.remove ?? []) {
        if (!entries.delete(latin1(name))) throw new PublishError('NO_SUCH_NAME', `cannot remove ${showName(name)}: the index of ${formatPublicKey(pub)} has no such entry`, name);
      }
      for (const set of changes.set ?? []) {
        const node = set.node ?? (await this.nodeFor(set.digest, set.name));
        entries.set(latin1(set.name), { name: set.name, node, ...(set.nix && { nix: set.nix }) });
      }
      const index = encodeIndex(sortEntries(entries.values()));
      const now = this.#now();
      const root = signRoot(secret, {
        indexDigest: blake3(index) as Digest,
        indexSize: BigInt(index.length),
        sequence: (last?.root.sequence ?? 0n) + 1n,
        timestamp: now,
        expires: changes.expiresIn === undefined ? 0n : now + changes.expiresIn,
      });
      return this.#acceptLocked(root, index);
    });
  }

  /**
   * The node an entry gets for a digest in the local store: a Directory there becomes a
   * DirectoryNode (with its size), a blob a non-executable FileNode. Throws NOT_IN_STORE.
   */
  async nodeFor(digest: Digest | undefined, name: Uint8Array): Promise<Node> {
    if (digest === undefined) throw new PublishError('NO_NODE', `entry ${showName(name)} has neither a node nor a digest`, name);
    const dir = await this.data.directories.get(digest);
    if (dir !== undefined) return { directory: { name: new Uint8Array(0), digest, size: directorySize(dir) } };
    const stat = await this.data.blobs.stat(digest);
    if (stat !== undefined) return { file: { name: new Uint8Array(0), digest, size: BigInt(stat.size), executable: false } };
    throw new PublishError('NOT_IN_STORE', `${formatDigest(digest)} (for ${showName(name)}) is neither a directory nor a blob in this store; castor add it first`, formatDigest(digest));
  }

  /**
   * The accepted root of the key `spec` names: a key name, `name:base64`, the base64 or hex
   * public key, or a file holding the public or secret key. Throws NO_ROOT (or AMBIGUOUS_KEY).
   */
  async findAccepted(spec: string): Promise<AcceptedRoot> {
    const all = await this.state.list();
    let found = all.filter((a) => {
      const r = a.root;
      const b64 = Buffer.from(r.publicKey).toString('base64');
      return spec === r.keyName || spec === `${r.keyName}:${b64}` || spec === b64 || spec.toLowerCase() === keyHex(r.publicKey);
    });
    if (found.length === 0) {
      const keys = await fileKeys(spec);
      found = all.filter((a) => keys.some((k) => k.name === a.root.keyName && digestEquals(k.publicKey, a.root.publicKey)));
    }
    if (found.length === 0) throw new NoRootError(spec);
    if (found.length > 1) {
      throw new CastorError('AMBIGUOUS_KEY', `${JSON.stringify(spec)} names several keys (${found.map((a) => showRootKey(a.root)).join(', ')}): give the public key`, spec);
    }
    return found[0]!;
  }

  /** findAccepted, then the checks that make a recorded root usable now: still trusted, signature, not expired. */
  async usableRoot(spec: string): Promise<AcceptedRoot> {
    const accepted = await this.findAccepted(spec);
    const root = accepted.root;
    if (!isTrustedKey(await this.trustedKeys(), root)) throw new UntrustedKeyError(root.keyName, showRootKey(root));
    if (!verifyRootSignature(root)) throw new BadSignatureError(showRootKey(root));
    const now = this.#now();
    if (root.expires !== 0n && now >= root.expires) throw new ExpiredRootError(root.expires, now);
    return accepted;
  }

  /**
   * The entry `name` under the usable root of `spec`, or undefined if its Index has none.
   * Reads one block of the Index (bao-verified), found through the lookup table.
   */
  async resolve(spec: string, name: Uint8Array): Promise<{ accepted: AcceptedRoot; entry: IndexEntry | undefined }> {
    const accepted = await this.usableRoot(spec);
    const table = (await this.state.lookupTable(accepted)) ?? (await this.#rebuildLookup(accepted));
    const block = table.blockOf(name);
    if (block === undefined) return { accepted, entry: undefined };
    const bytes = await readIndexRange(this.data.blobs, accepted.root.indexDigest, block.start, block.end);
    return { accepted, entry: findInBlock(bytes, block.first, name) };
  }

  /**
   * The lookup table was lost or damaged: built again from the (verified) Index, and
   * written back when it is the one the record names (a table laid out by another
   * version of castor is used, not written: the record is only rewritten by accepting).
   */
  async #rebuildLookup(accepted: AcceptedRoot): Promise<LookupTable> {
    const index = await this.#index(accepted.root);
    const offsets = scanIndex(index);
    const bytes = buildLookupTable(index, offsets);
    const table = LookupTable.parse(bytes, offsets.length - 1, index.length);
    if (table === undefined || offsets.length - 1 !== accepted.entries) {
      throw new TrustStateError(this.state.dir, `the recorded root of ${showRootKey(accepted.root)} says ${accepted.entries} entries, its index has ${offsets.length - 1}`);
    }
    if (digestEquals(blake3(bytes), accepted.lookupDigest)) await this.state.writeLookup(accepted.root, bytes);
    return table;
  }

  async #index(root: SignedRoot): Promise<Uint8Array> {
    const index = await readIndexBlob(this.data.blobs, root.indexDigest);
    if (BigInt(index.length) !== root.indexSize) throw new IndexSizeMismatchError(root.indexSize, index.length);
    return index;
  }

  /** The accepted Index of `accepted`, in memory, for listing. */
  async view(accepted: AcceptedRoot): Promise<IndexView> {
    const index = await this.#index(accepted.root);
    return IndexView.scan(index);
  }

  /** The bundle `root export` writes for the accepted root of `spec`. */
  async exportBundle(spec: string): Promise<Uint8Array> {
    const accepted = await this.findAccepted(spec);
    const bundle: RootBundle = { root: accepted.root, index: await this.#index(accepted.root) };
    return encodeRootBundle(bundle);
  }
}

/** The keys in file `spec`, or none if it is not a readable key file. */
async function fileKeys(spec: string): Promise<PublicKey[]> {
  try {
    return parseKeyList(await readFile(spec, 'utf8'));
  } catch {
    return [];
  }
}
