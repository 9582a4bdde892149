// Pins: the digests a user asked to keep. Each is one small file, pins/<hex>, holding a
// JSON note; publishing one is a rename, so concurrent pinning from several processes
// needs no lock and a killed process leaves no half-written pin.

import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { moveInto, syncDir, writeSynced } from '../fs/index.js';
import { limit } from '../util/index.js';
import { formatDigest, parseDigest, type Digest } from '../digest.js';
import { fsError, isNotFound } from '../fs/index.js';
import type { FsLayout } from '../fs/index.js';

export interface Pin {
  readonly digest: Digest;
  /** What the digest names, as the pinning command saw it. */
  readonly type: 'blob' | 'directory' | 'symlink' | 'unknown';
  /** Where it came from (a path given to `add`, a fetch ticket), for people reading `pin ls`. */
  readonly label: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
}

const HEX = /^[0-9a-f]{64}$/;

export async function addPin(layout: FsLayout, pin: Omit<Pin, 'time'> & { time?: number }, durable = true): Promise<void> {
  const note = JSON.stringify({ type: pin.type, label: pin.label, time: pin.time ?? Date.now() });
  const temp = layout.newTempPath('p-');
  await writeSynced(temp, new TextEncoder().encode(`${note}\n`), durable);
  const dirty = await moveInto(temp, path.join(layout.pins, formatDigest(pin.digest)));
  if (durable) for (const d of dirty) await syncDir(d);
}

/** Resolves to whether a pin was there to remove. */
export async function removePin(layout: FsLayout, digest: Digest): Promise<boolean> {
  const file = path.join(layout.pins, formatDigest(digest));
  try {
    await rm(file);
    return true;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw fsError(err, file, 'removing');
  }
}

/** Every pin, in digest order. A pin file whose note is unreadable still pins its digest. */
export async function listPins(layout: FsLayout): Promise<Pin[]> {
  let names: string[];
  try {
    names = await readdir(layout.pins);
  } catch (err: unknown) {
    if (isNotFound(err)) return [];
    throw fsError(err, layout.pins, 'listing');
  }
  // Read in parallel (bounded): one at a time, 10,000 pins take seconds.
  const run = limit(32);
  const read = await Promise.all(names.filter((n) => HEX.test(n)).sort().map((name) => run(async (): Promise<Pin | undefined> => {
    const file = path.join(layout.pins, name);
    let note: Partial<Pin> = {};
    try {
      note = JSON.parse(await readFile(file, 'utf8')) as Partial<Pin>;
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      if (!(err instanceof SyntaxError)) throw fsError(err, file, 'reading');
    }
    return {
      digest: parseDigest(name),
      type: note.type ?? 'unknown',
      label: typeof note.label === 'string' ? note.label : '',
      time: typeof note.time === 'number' ? note.time : 0,
    };
  })));
  const pins = read.filter((p): p is Pin => p !== undefined);
  return pins;
}
