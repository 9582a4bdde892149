// A pull-through upstream: a Nix binary cache (file://, http(s)://) the node imports a
// path and its closure from when asked for one it lacks, with every check of the cache
// import (narinfo signature by a trusted key or a CA that checks out, NarHash and size of
// each NAR, compressed NARs decoded as they stream), deduplicated into castore.

import {
  type BinaryCache, type BlobService, type DirectoryService, importFromCache, parseNarinfo, parseStorePath, type PathInfoSink,
} from '../../store/index.js';
import type { PublicKey } from '../../verify/index.js';
import type { NixPathInfoSource } from './path-info-source.js';
import type { NixSubstituter } from './substituter.js';

export interface UpstreamSubstituterOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  readonly pathInfos: NixPathInfoSource;
  /** Keys whose signature admits an input-addressed path. */
  readonly trustedKeys: readonly PublicKey[];
  /** Makes what was ingested durable before PathInfos are put. */
  readonly sync?: (() => Promise<void>) | undefined;
  /** Called with each path imported. */
  readonly onImported?: (storePath: string, narSize: number) => void;
}

/** The PathInfo store as the cache import sees it. */
export function pathInfoSink(pathInfos: NixPathInfoSource, trustedKeys: readonly PublicKey[]): PathInfoSink {
  return {
    has: async (storePath) => (await pathInfos.get(parseStorePath(storePath).hashPart))?.storePath === storePath,
    put: (info) => pathInfos.put(info, { trustedKeys }),
  };
}

export class UpstreamSubstituter implements NixSubstituter {
  readonly name: string;

  constructor(private readonly cache: BinaryCache, private readonly options: UpstreamSubstituterOptions) {
    this.name = `upstream ${cache.url}`;
  }

  async substitute(hashPart: string): Promise<boolean> {
    const bytes = await this.cache.narinfo(hashPart);
    if (bytes === undefined) return false;
    // Which path the hash part names; importFromCache checks the narinfo filed under it is that path's.
    const { storePath } = parseNarinfo(bytes);
    if (parseStorePath(storePath).hashPart !== hashPart) return false;
    const o = this.options;
    const result = await importFromCache(this.cache, [storePath], {
      blobs: o.blobs, directories: o.directories, pathInfos: pathInfoSink(o.pathInfos, o.trustedKeys), trustedKeys: o.trustedKeys, checkSigs: true,
      ...(o.sync !== undefined && { sync: o.sync }),
    });
    for (const info of result.imported) o.onImported?.(info.storePath, info.narSize);
    return true;
  }
}
