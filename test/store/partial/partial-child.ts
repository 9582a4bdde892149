// Child process for the PartialBlob crash tests: a "fetch" that resumes the partial of a
// deterministic blob (or begins it) and writes its missing groups one by one in a
// shuffled order, slowly, reporting on stdout, so the parent can SIGKILL it mid-way.
// With no arguments (as when `node --test` runs every file under test/) it does nothing.
//
//   partial-child.js fetch DIR LEN SEED PERSIST_GROUPS DELAY_MS [FAST_GROUPS]
//
// It pauses DELAY_MS after each group but the first FAST_GROUPS (default 0) it writes.
//
// Lines: `opening` before begin, `start HELD_HEX` (the bitfield it resumed with), `writing I` before and
// `wrote I PERSISTED` after each group,
// `complete DIGEST` at the end; `busy HOLDER` if another process holds the partial.

import { setTimeout as sleep } from 'node:timers/promises';
import { outboardOf } from '../../../src/verify/bao/index.js';
import { toHex } from '../../../src/verify/blake3/index.js';
import { asDigest } from '../../../src/store/digest.js';
import { openDataDir } from '../../../src/store/disk/data-dir.js';
import { PartialBlob, PartialBusyError } from '../../../src/store/partial/partial-blob.js';
import { randomBytes } from '../blob-data.js';

const GROUP = 16 * 1024;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function fetch(dir: string, len: number, seed: number, persistGroups: number, delayMs: number, fast: number): Promise<void> {
  const data = await openDataDir(dir);
  const bytes = randomBytes(len, seed);
  const ob = outboardOf(bytes, 4);
  const digest = asDigest(ob.hash);
  let p: PartialBlob;
  say('opening');
  try {
    p = await PartialBlob.begin(data, digest, len, ob.outboard, { persistEveryBytes: persistGroups * GROUP, persistEveryMs: 1e9 });
  } catch (err: unknown) {
    if (err instanceof PartialBusyError) {
      say(`busy ${err.holder}`);
      return;
    }
    throw err;
  }
  say(`start ${Buffer.from(p.heldBitfield()).toString('hex')}`);
  const order = Array.from({ length: p.groupCount }, (_, i) => i);
  let x = seed;
  for (let i = order.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let written = 0;
  for (const i of order) {
    if (p.has(i)) continue;
    say(`writing ${i}`);
    await p.writeGroup(i, bytes.subarray(i * GROUP, Math.min(len, (i + 1) * GROUP)));
    say(`wrote ${i} ${p.persistedCount}`);
    if (delayMs > 0 && ++written > fast) await sleep(delayMs);
  }
  say(`complete ${toHex(await p.complete())}`);
}

const [mode, dir, ...rest] = process.argv.slice(2);
if (mode === 'fetch' && dir !== undefined) {
  const [len, seed, persistGroups, delayMs, fast] = rest.map(Number);
  await fetch(dir, len!, seed!, persistGroups!, delayMs!, fast ?? 0);
}
