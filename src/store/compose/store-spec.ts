// Stores named by URL-like specs (`memory://`, `fs:///abs/path`, and whatever scheme an
// upper layer registers: the node layer adds `p2p://`), opened alone or as one layered
// store: the first spec is the local tier, the others lower tiers in order (tvix castore's
// from_addr, with composition built in).
//
// Syntax: SCHEME://REST. The scheme is case-insensitive ([a-z][a-z0-9+.-]*); REST is
// taken literally, without percent-decoding, and each scheme says what it accepts.
//   memory://        an empty store in this process's memory (REST must be empty)
//   fs:///abs/path   the disk store in that data dir (REST must be an absolute path;
//                    fs://./rel and fs://host/… are refused: resolve a relative path first)
// A layered store is a list of specs, not one string (the CLI repeats --store), so no
// separator character is taken from what a path may contain.

import path from 'node:path';
import { CastorError, InvalidInputError } from '../../verify/index.js';
import type { BlobService } from '../blob-service.js';
import { openDataDir, type DataDir } from '../disk/index.js';
import type { DirectoryService } from '../directory-service.js';
import { LayeredBlobService, type LayeredBlobServiceOptions } from './layered-blob-service.js';
import { LayeredDirectoryService } from './layered-directory-service.js';
import { MemoryBlobService } from '../blobs/index.js';
import { MemoryDirectoryService } from '../directories/index.js';

/** A parsed spec. */
export interface StoreSpec {
  /** The spec as given. */
  readonly text: string;
  /** Lowercase, without `://`. */
  readonly scheme: string;
  /** Everything after `scheme://`, exactly as given. */
  readonly rest: string;
}

/** One opened store: what a scheme's factory returns. */
export interface OpenedStore {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  /** The data dir of a store kept in one (fs://): what fsck, gc and pins work on. */
  readonly dataDir?: DataDir;
  /** Releases what the store holds (connections, handles). */
  close?(): Promise<void>;
}

export interface StoreOpenContext {
  /** 'local' for the first spec (where writes and write-through go), else 'lower'. */
  readonly role: 'local' | 'lower';
  /** Create what is missing (a data dir); only ever true for the local tier. */
  readonly create: boolean;
  /** fsync what is published. */
  readonly durable: boolean;
}

export type StoreFactory = (spec: StoreSpec, context: StoreOpenContext) => Promise<OpenedStore>;

/** A spec that does not parse, or that its scheme refuses; `value` is the spec (or the empty list). */
export class StoreSpecError extends CastorError {
  constructor(readonly spec: string, detail: string, value: unknown = spec) {
    super('INVALID_STORE_SPEC', value === spec ? `store ${JSON.stringify(spec)}: ${detail}` : detail, value);
  }
}

/** A well-formed spec whose scheme nobody registered; `value` is the spec. */
export class UnknownStoreSchemeError extends CastorError {
  constructor(readonly spec: string, readonly scheme: string) {
    super('UNKNOWN_STORE_SCHEME', `store ${JSON.stringify(spec)}: unknown scheme ${scheme}:// (known: ${knownSchemes().map((s) => `${s}://`).join(', ')})`, spec);
  }
}

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const SPEC = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

const factories = new Map<string, StoreFactory>();

/**
 * Makes `scheme://…` specs open through `factory`; returns a function that undoes it.
 * A scheme already registered is STORE_SCHEME_TAKEN: unregister it first.
 */
export function registerStoreScheme(scheme: string, factory: StoreFactory): () => void {
  if (typeof scheme !== 'string' || !SCHEME.test(scheme)) throw new InvalidInputError(`store scheme ${JSON.stringify(scheme)} is not [a-z][a-z0-9+.-]*`, scheme);
  if (typeof factory !== 'function') throw new InvalidInputError(`factory for ${scheme}:// is not a function`, factory);
  if (factories.has(scheme)) throw new CastorError('STORE_SCHEME_TAKEN', `store scheme ${scheme}:// is already registered`, scheme);
  factories.set(scheme, factory);
  return () => {
    if (factories.get(scheme) === factory) factories.delete(scheme);
  };
}

/** Registered schemes, sorted. */
export function knownSchemes(): string[] {
  return [...factories.keys()].sort();
}

/** Splits `scheme://rest`; says nothing yet about whether the scheme exists or accepts `rest`. */
export function parseStoreSpec(text: string): StoreSpec {
  if (typeof text !== 'string') throw new StoreSpecError(String(text), 'not a string');
  if (text.includes('\0')) throw new StoreSpecError(text, 'contains a NUL byte');
  const m = SPEC.exec(text);
  if (m === null) {
    const hint = text.startsWith('/') ? `; a data dir is fs://${text}` : '';
    throw new StoreSpecError(text, `expected SCHEME://…, such as memory:// or fs:///path/to/data-dir${hint}`);
  }
  return { text, scheme: m[1]!.toLowerCase(), rest: m[2]! };
}

/** The spec of the disk store in `dir` (made absolute): what a --data-dir means as a --store. */
export function dataDirSpec(dir: string): string {
  return `fs://${path.resolve(dir)}`;
}

/** Several stores as one: the local tier's services alone, or layered over the others. */
export interface Stores {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  /** Each opened store with its spec, local first. */
  readonly tiers: readonly (OpenedStore & { readonly spec: StoreSpec })[];
  /** Closes every tier (lower tiers first); the first failure is thrown once all were tried. */
  close(): Promise<void>;
}

export interface OpenStoresOptions {
  /** Create the local tier's data dir if it is missing. @default false */
  create?: boolean;
  /** fsync what is published. @default true */
  durable?: boolean;
  /** Passed to LayeredBlobService when there are lower tiers. */
  blobs?: Omit<LayeredBlobServiceOptions, 'names'>;
}

/**
 * Opens `specs`: one spec is that store; several are layered, the first the local tier.
 * Every spec is parsed and its scheme looked up before anything is opened; if one fails
 * to open, those already open are closed again.
 */
export async function openStores(specs: readonly string[], options: OpenStoresOptions = {}): Promise<Stores> {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new StoreSpecError('', 'no store given: at least one spec (the local tier) is needed', specs);
  }
  const parsed = specs.map(parseStoreSpec);
  const openers = parsed.map((spec) => {
    const factory = factories.get(spec.scheme);
    if (factory === undefined) throw new UnknownStoreSchemeError(spec.text, spec.scheme);
    return factory;
  });
  const tiers: (OpenedStore & { spec: StoreSpec })[] = [];
  const closeAll = async (): Promise<void> => {
    let first: { err: unknown } | undefined;
    for (const t of tiers.splice(0).reverse()) {
      try {
        await t.close?.();
      } catch (err: unknown) {
        first ??= { err };
      }
    }
    if (first) throw first.err;
  };
  try {
    for (const [i, spec] of parsed.entries()) {
      const context: StoreOpenContext = {
        role: i === 0 ? 'local' : 'lower',
        create: i === 0 && (options.create ?? false),
        durable: options.durable ?? true,
      };
      const opened = await openers[i]!(spec, context);
      tiers.push({
        blobs: opened.blobs, directories: opened.directories, dataDir: opened.dataDir, spec,
        close: opened.close?.bind(opened),
      });
    }
  } catch (err: unknown) {
    await closeAll().catch(() => undefined); // the open failure is the one to report
    throw err;
  }
  const [local, ...lowers] = tiers;
  const names = tiers.map((t) => t.spec.text);
  const all = [...tiers];
  return {
    blobs: lowers.length === 0 ? local!.blobs : new LayeredBlobService(local!.blobs, lowers.map((t) => t.blobs), { ...options.blobs, names }),
    directories: lowers.length === 0 ? local!.directories : new LayeredDirectoryService(local!.directories, lowers.map((t) => t.directories), { names }),
    tiers: all,
    close: closeAll,
  };
}

registerStoreScheme('memory', async (spec) => {
  if (spec.rest !== '') throw new StoreSpecError(spec.text, 'memory:// takes nothing after it');
  return { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
});

registerStoreScheme('fs', async (spec, context) => {
  if (!spec.rest.startsWith('/')) {
    throw new StoreSpecError(spec.text, 'fs:// takes an absolute path, as in fs:///var/lib/castor (relative paths and hosts are not supported)');
  }
  const dataDir = await openDataDir(path.resolve(spec.rest), { create: context.create, durable: context.durable });
  return { blobs: dataDir.blobs, directories: dataDir.directories, dataDir };
});
