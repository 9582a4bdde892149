// fsck's check of the Directory store: each stored Directory hashes to its name, decodes,
// validates and is in canonical encoding; then the set that passed is made closed under
// references: a Directory naming a child Directory that is missing (or failed, or has a
// different size than its DirectoryNode claims) fails too, and so, in turn, do its parents.

import { readFile } from 'node:fs/promises';
import { blake3 } from '../../verify/index.js';
import { type Directory, decodeDirectory, directorySize, encodeDirectory, showName } from '../castore/index.js';
import { asDigest, digestEquals, formatDigest, type Digest } from '../digest.js';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';
import { storedEntries } from '../fs/index.js';

export type DirFaultCode = 'HASH_MISMATCH' | 'INVALID_DIRECTORY' | 'NOT_CANONICAL' | 'UNREADABLE' | 'MISSING_CHILD' | 'SIZE_MISMATCH';

export interface DirFault {
  readonly digest: Digest;
  readonly code: DirFaultCode;
  readonly detail: string;
}

export interface DirCheckHooks {
  /** A Directory failed; called once per Directory, parents after the child that sank them. */
  fault(f: DirFault): Promise<void>;
  /** A Directory that passed names a file blob; resolves to a note if that blob is not there. */
  fileBlob?(dir: Digest, name: Uint8Array, blob: Digest): Promise<void>;
  /** Bytes of a Directory file read (for progress). */
  read?(bytes: number): void;
}

interface Child {
  readonly name: Uint8Array;
  readonly hex: string;
  readonly size: bigint;
}

interface Passed {
  readonly size: bigint;
  readonly children: readonly Child[];
}

type Loaded = { readonly ok: Passed; readonly dir: Directory } | { readonly fault: DirFault } | undefined;

/** Checks every Directory under dirs/; resolves to how many were checked. */
export async function checkDirectories(layout: FsLayout, hooks: DirCheckHooks): Promise<number> {
  const passed = new Map<string, Passed>();
  const failed = new Set<string>();
  const parents = new Map<string, string[]>();
  let checked = 0;

  const admit = async (digest: Digest, hex: string, loaded: Loaded): Promise<void> => {
    if (loaded === undefined) return;
    if ('fault' in loaded) {
      failed.add(hex);
      await hooks.fault(loaded.fault);
      return;
    }
    passed.set(hex, loaded.ok);
    for (const c of loaded.ok.children) {
      const list = parents.get(c.hex);
      if (list === undefined) parents.set(c.hex, [hex]);
      else list.push(hex);
    }
    if (hooks.fileBlob) for (const f of loaded.dir.files) await hooks.fileBlob(digest, f.name, asDigest(f.digest));
  };

  for await (const e of storedEntries(layout.dirs, layout.root)) {
    checked++;
    await admit(e.digest, e.hex, await loadDirectory(layout, e.digest, hooks.read));
  }

  // Sinks `hex` and every parent that named it, breadth-first up the tree.
  const sink = async (first: DirFault): Promise<void> => {
    const queue = [first];
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const hex = formatDigest(f.digest);
      if (!passed.delete(hex)) continue;
      failed.add(hex);
      await hooks.fault(f);
      for (const p of parents.get(hex) ?? []) {
        const info = passed.get(p);
        if (info === undefined) continue;
        const child = info.children.find((c) => c.hex === hex)!;
        queue.push({
          digest: digestOf(p),
          code: 'MISSING_CHILD',
          detail: `child directory ${showName(child.name)} (${hex}) failed this check`,
        });
      }
    }
  };

  // Every child of every Directory that passed must have passed too, with the size claimed.
  // Map iteration visits entries added on the way (children found late, see below).
  for (const [hex, info] of passed) {
    for (const c of info.children) {
      if (!passed.has(hex)) break;
      let child = passed.get(c.hex);
      if (child === undefined && !failed.has(c.hex)) {
        // Not listed when its shard was read: a writer may have put it since (children go
        // in before their parents). Look again before calling it missing.
        const d = digestOf(c.hex);
        const late = await loadDirectory(layout, d, hooks.read);
        if (late !== undefined) {
          checked++;
          await admit(d, c.hex, late);
          child = passed.get(c.hex);
        }
      }
      if (child === undefined) {
        const why = failed.has(c.hex) ? 'failed this check' : 'is not in the store';
        await sink({ digest: digestOf(hex), code: 'MISSING_CHILD', detail: `child directory ${showName(c.name)} (${c.hex}) ${why}` });
      } else if (child.size !== c.size) {
        await sink({
          digest: digestOf(hex),
          code: 'SIZE_MISMATCH',
          detail: `child directory ${showName(c.name)} (${c.hex}) has size ${child.size}, its DirectoryNode says ${c.size}`,
        });
      }
    }
  }
  return checked;
}

/** Reads and checks one Directory file; undefined if it is not there. */
async function loadDirectory(layout: FsLayout, digest: Digest, onRead?: (bytes: number) => void): Promise<Loaded> {
  const file = layout.dirPath(digest);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    if (errnoOf(err) === 'EIO') return { fault: { digest, code: 'UNREADABLE', detail: 'its file cannot be read (EIO)' } };
    throw fsError(err, file, 'reading');
  }
  onRead?.(bytes.length);
  const actual = blake3(bytes);
  if (!digestEquals(actual, digest)) return { fault: { digest, code: 'HASH_MISMATCH', detail: `its bytes hash to ${formatDigest(actual)}` } };
  let dir: Directory;
  try {
    dir = decodeDirectory(bytes);
  } catch (err: unknown) {
    return { fault: { digest, code: 'INVALID_DIRECTORY', detail: `it is not a valid Directory: ${err instanceof Error ? err.message : String(err)}` } };
  }
  // Stored bytes are what put() encoded; other bytes for the same tree mean another digest.
  if (!equalBytes(encodeDirectory(dir), bytes)) return { fault: { digest, code: 'NOT_CANONICAL', detail: 'it is not in canonical encoding' } };
  const children = dir.directories.map((n) => ({ name: n.name, hex: formatDigest(n.digest), size: n.size }));
  return { ok: { size: directorySize(dir), children }, dir };
}

function digestOf(hex: string): Digest {
  return asDigest(new Uint8Array(Buffer.from(hex, 'hex')));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
