// Importing store paths and their closures from a Nix binary cache: every narinfo of
// the closure fetched and its trust decided before any NAR is asked for (as Nix does),
// then each NAR, dependencies first, decompressed, ingested and checked against its
// narinfo. A PathInfo is put only for a path whose NAR passed, after every path it
// references, so no failure leaves a path visible that is not whole.

import { CastorError, type PublicKey } from '../../verify/index.js';
import type { BlobService } from '../blob-service.js';
import type { DirectoryService } from '../directory-service.js';
import { limit } from '../util/index.js';
import type { BinaryCache } from './binary-cache.js';
import { importNar } from './nar-import.js';
import { type Narinfo, parseNarinfo } from './narinfo.js';
import type { PathInfo } from './path-info.js';
import { pathTrust, type PathTrust } from './path-trust.js';
import { compareStorePaths, parseStorePath } from './store-path.js';

/** narinfos fetched at once. */
const NARINFO_CONCURRENCY = 8;

/** A path (or a reference of one) the cache does not have, or has under another name. `value`: the path. */
export class PathNotInCacheError extends CastorError {
  constructor(storePath: string, cacheUrl: string, detail = 'not in the cache') {
    super('NOT_IN_CACHE', `${storePath}: ${detail} ${cacheUrl}`, storePath);
  }
}

/** What the import needs of a PathInfo store. */
export interface PathInfoSink {
  has(storePath: string): Promise<boolean>;
  /** Makes `info` visible; may refuse it (a CastorError). */
  put(info: PathInfo): Promise<unknown>;
}

export interface CacheImportOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  readonly pathInfos: PathInfoSink;
  readonly trustedKeys: readonly PublicKey[];
  /** false: take paths no trusted key signed (`--no-check-sigs`). */
  readonly checkSigs: boolean;
  /** Makes what was ingested durable; called before PathInfos are put. */
  readonly sync?: () => Promise<void>;
  /** The paths to import (dependencies first), once every narinfo is in and trusted. */
  readonly onPlan?: (paths: readonly Narinfo[]) => void;
  /** Uncompressed NAR bytes imported so far, over all paths. */
  readonly onBytes?: (bytes: number) => void;
}

export interface CacheImportResult {
  /** Paths imported now, dependencies first. */
  readonly imported: readonly PathInfo[];
  /** Paths of the closure already present (their own closures are not walked). */
  readonly present: readonly string[];
}

/** The narinfos of the closure of `storePaths` the store lacks, and the paths it has. */
async function resolveClosure(cache: BinaryCache, storePaths: readonly string[], options: CacheImportOptions): Promise<{ wanted: Map<string, { narinfo: Narinfo; trust: PathTrust }>; present: string[] }> {
  const wanted = new Map<string, { narinfo: Narinfo; trust: PathTrust }>();
  const present: string[] = [];
  const seen = new Set<string>();
  const run = limit(NARINFO_CONCURRENCY);
  let wave = [...new Set(storePaths.map((p) => parseStorePath(p).path))];
  while (wave.length > 0) {
    for (const p of wave) seen.add(p);
    const got = await Promise.all(wave.map((p) => run(async () => {
      if (await options.pathInfos.has(p)) return { path: p, narinfo: undefined };
      const { hashPart } = parseStorePath(p);
      const bytes = await cache.narinfo(hashPart);
      if (bytes === undefined) throw new PathNotInCacheError(p, cache.url);
      const narinfo = parseNarinfo(bytes);
      if (narinfo.storePath !== p) throw new PathNotInCacheError(p, cache.url, `the narinfo filed under ${hashPart} is for ${narinfo.storePath}, in`);
      return { path: p, narinfo };
    })));
    const next: string[] = [];
    for (const { path, narinfo } of got) {
      if (narinfo === undefined) {
        present.push(path);
        continue;
      }
      wanted.set(path, { narinfo, trust: pathTrust(narinfo, options.trustedKeys, options.checkSigs) });
      for (const r of narinfo.references) {
        if (!seen.has(r)) {
          seen.add(r);
          next.push(r);
        }
      }
    }
    wave = next;
  }
  return { wanted, present: present.sort(compareStorePaths) };
}

/** Dependencies first, ties by store path; self-references ignored. */
function dependencyOrder(wanted: Map<string, { narinfo: Narinfo }>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (p: string): void => {
    if (done.has(p) || !wanted.has(p)) return;
    done.add(p);
    for (const r of wanted.get(p)!.narinfo.references) visit(r);
    order.push(p);
  };
  for (const p of [...wanted.keys()].sort(compareStorePaths)) visit(p);
  return order;
}

/**
 * Imports `storePaths` and everything they reference from `cache`. Refuses the whole
 * import before any NAR is read when a narinfo is missing, malformed or untrusted. A
 * NAR that fails (NarMismatchError, a decode or parse error) stops the import: the paths
 * before it, whole and closed under references, are kept; it and the rest are not.
 */
export async function importFromCache(cache: BinaryCache, storePaths: readonly string[], options: CacheImportOptions): Promise<CacheImportResult> {
  await cache.checkInfo();
  const { wanted, present } = await resolveClosure(cache, storePaths, options);
  const order = dependencyOrder(wanted);
  options.onPlan?.(order.map((p) => wanted.get(p)!.narinfo));
  const passed: PathInfo[] = [];
  let before = 0;
  let failure: unknown;
  for (const p of order) {
    const { narinfo, trust } = wanted.get(p)!;
    try {
      const got = await importNar(cache.nar(narinfo.url), narinfo.compression, {
        storePath: p, narHash: narinfo.narHash, narSize: narinfo.narSize, ...(trust.by === 'content-address' && { ca: trust.ca }),
      }, { blobs: options.blobs, directories: options.directories, onBytes: (n) => options.onBytes?.(before + n) });
      before += got.narSize;
      passed.push({
        storePath: p, node: got.node, narHash: got.narHash, narSize: got.narSize, references: narinfo.references,
        ...(narinfo.deriver !== undefined && { deriver: narinfo.deriver }), signatures: narinfo.signatures,
        ...(narinfo.ca !== undefined && { ca: narinfo.ca }),
      });
    } catch (err: unknown) {
      failure = err;
      break;
    }
  }
  if (passed.length > 0) {
    await options.sync?.();
    for (const info of passed) await options.pathInfos.put(info);
  }
  if (failure !== undefined) throw failure;
  return { imported: passed, present };
}
