// What gc and fsck need of packs (pack-format.ts) besides reading entries: a pack's entries
// as readers see them, whether a pack may be rewritten, the rewrite itself, and hashing
// every entry (fsck).
//
// A pack may be rewritten only when no writer will append to it again: it is sealed (its
// index covers all of it; a writer never appends to a sealed pack) or the process that
// wrote it is dead. A rewrite never changes a pack in place: the kept entries are copied
// into a new pack under a new name, made durable, and only then may the caller remove the
// old one. A reader holding the old pack open reads on from it; one that finds it gone
// looks the entry up again (packed-chunk.ts); a writer that deduped against it after the
// removal finds it gone and appends its blob again (fs-put-bytes.ts).

import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { digestEquals, parseDigest, type Digest } from '../../digest.js';
import { chunkDigest } from '../fs-record.js';
import { syncDir } from '../../fs/index.js';
import { errnoOf, fsError, isNotFound } from '../../fs/index.js';
import type { FsLayout } from '../../fs/index.js';
import { encodeEntryHead, encodeIndex2, ENTRY_HEAD, PACK_MAGIC, type ScannedEntry } from './pack-format.js';
import { INDEX_SUFFIX, indexPathOf, PACK_SUFFIX, type PackView } from './pack-index.js';

/** Whether the process that wrote `pack` (the pid its name starts with) is gone, so it will not append again. */
export function packWriterDead(pack: string): boolean {
  const pid = Number(path.basename(pack).split('-', 1)[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    // EPERM: alive, someone else's.
    return errnoOf(err) === 'ESRCH';
  }
}

/** Whether `view` may be rewritten (see the file comment). */
export function packRewritable(view: PackView): boolean {
  return view.sealed || packWriterDead(view.pack);
}

/**
 * Writes a new pack holding the entries of `view` that `keep` accepts (each digest once),
 * with its index, and publishes it in packs/ (index first, so it is never scanned for
 * nothing); durable before it resolves. Resolves to its path, or undefined when nothing
 * was kept (then nothing was written). The old pack is left for the caller to remove.
 */
export function rewritePack(layout: FsLayout, view: PackView, keep: (hex: string, entry: ScannedEntry) => boolean): Promise<string | undefined> {
  return rewritePacks(layout, [view], keep);
}

/**
 * rewritePack over several packs at once, into one: how gc merges small packs (every
 * process that adds files leaves one or two, and each costs every later process a read of
 * its index on its first small-blob lookup).
 */
export async function rewritePacks(layout: FsLayout, views: readonly PackView[], keep: (hex: string, entry: ScannedEntry) => boolean): Promise<string | undefined> {
  const kept = new Set<string>();
  const chosen = views.map((view) => ({
    from: view.pack,
    entries: view.entries.filter((e) => {
      if (kept.has(e.hex) || !keep(e.hex, e)) return false;
      kept.add(e.hex);
      return true;
    }),
  }));
  if (kept.size === 0) return undefined;
  const tempPack = layout.newTempPath('p-');
  const tempIndex = layout.newTempPath('i-');
  const name = `${layout.packs}/${process.pid}-gc-${randomBytes(6).toString('hex')}`;
  try {
    const written = await copyEntries(chosen, tempPack);
    if (written === undefined) return undefined;
    const ifh = await open(tempIndex, 'wx');
    try {
      await ifh.writeFile(encodeIndex2(written.end, written.entries));
      await ifh.sync();
    } finally {
      await ifh.close();
    }
    await rename(tempIndex, name + INDEX_SUFFIX);
    await rename(tempPack, name + PACK_SUFFIX);
    await syncDir(layout.packs);
    return name + PACK_SUFFIX;
  } catch (err: unknown) {
    for (const t of [tempPack, tempIndex]) await unlink(t).catch(() => undefined);
    throw fsError(err, name + PACK_SUFFIX, 'writing');
  }
}

/**
 * Copies the `entries` of each pack `from` into a new pack at `to`, fsynced. Undefined if a
 * `from` is gone (another gc or fsck removed it meanwhile).
 */
async function copyEntries(sources: readonly { from: string; entries: readonly ScannedEntry[] }[], to: string): Promise<{ end: number; entries: { digest: Uint8Array; offset: number; size: number }[] } | undefined> {
  const out = await open(to, 'wx');
  try {
    await out.write(PACK_MAGIC, 0, PACK_MAGIC.length, 0);
    let end = PACK_MAGIC.length;
    const index: { digest: Uint8Array; offset: number; size: number }[] = [];
    for (const { from, entries } of sources) {
      if (entries.length === 0) continue;
      let src;
      try {
        src = await open(from, 'r');
      } catch (err: unknown) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      try {
        end = await copyFrom(src, from, entries, out, end, index);
      } finally {
        await src.close();
      }
    }
    await out.sync();
    return { end, entries: index };
  } finally {
    await out.close();
  }
}

/** Appends `entries` of the open pack `src` (named `from`) to `out` from `end` on; the new end. */
async function copyFrom(src: FileHandle, from: string, entries: readonly ScannedEntry[], out: FileHandle, end: number, index: { digest: Uint8Array; offset: number; size: number }[]): Promise<number> {
  for (const e of entries) {
    const digest = parseDigest(e.hex);
    const entry = new Uint8Array(ENTRY_HEAD + e.size);
    entry.set(encodeEntryHead(digest, e.size));
    for (let got = ENTRY_HEAD; got < entry.length;) {
      const { bytesRead } = await src.read(entry, got, entry.length - got, e.offset + got - ENTRY_HEAD);
      if (bytesRead === 0) throw Object.assign(new Error(`pack ${from} ends inside the entry at ${e.offset}`), { code: 'EIO' });
      got += bytesRead;
    }
    for (let put = 0; put < entry.length;) put += (await out.write(entry, put, entry.length - put, end + put)).bytesWritten;
    index.push({ digest, offset: end + ENTRY_HEAD, size: e.size });
    end += entry.length;
  }
  return end;
}

/** Removes a pack's index (after the pack itself is gone or set aside). */
export async function removeIndexOf(pack: string): Promise<void> {
  const idx = indexPathOf(pack);
  try {
    await unlink(idx);
  } catch (err: unknown) {
    if (!isNotFound(err)) throw fsError(err, idx, 'removing');
  }
}

/** One entry hashed: a bad one's bytes, and `actual`, what they hash to, are given only when that is not its digest. */
export type EntryCheck =
  | { readonly entry: ScannedEntry; readonly actual?: undefined }
  | { readonly entry: ScannedEntry; readonly bytes: Uint8Array; readonly actual: Digest };

/** Hashes every entry of `view` (fsck); `onRead` is called with each entry's size. */
export async function verifyPackEntries(view: PackView, onRead: (bytes: number) => void): Promise<EntryCheck[]> {
  const out: EntryCheck[] = [];
  let fh;
  try {
    fh = await open(view.pack, 'r');
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, view.pack, 'opening');
  }
  try {
    for (const entry of view.entries) {
      const buf = new Uint8Array(entry.size);
      let got = 0;
      try {
        while (got < buf.length) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, entry.offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
      } catch (err: unknown) {
        // Bytes the disk cannot read back are as lost as bytes that read back wrong.
        if (errnoOf(err) !== 'EIO') throw fsError(err, view.pack, 'reading');
      }
      onRead(entry.size);
      const bytes = buf.subarray(0, got);
      const actual = chunkDigest(bytes);
      // Only a bad entry's bytes are kept (to quarantine): a pack of a large blob's chunks is 64 MiB.
      out.push(got === entry.size && digestEquals(actual, parseDigest(entry.hex)) ? { entry } : { entry, bytes, actual });
    }
  } finally {
    await fh.close();
  }
  return out;
}
