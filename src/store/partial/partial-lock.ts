// A lock file per partial blob, so two fetches of one digest (two processes, or two
// PartialBlobs in one process) never write the same partial at once.
//
// The lock is `<name>.lock`, holding its owner (pid, the process's start time from
// /proc where there is one, host name) as JSON. It is made complete in a private file
// first and then link(2)ed into place, which fails if the name exists: there is never
// an empty or half-written lock. A lock whose owner process is gone (no such pid, or
// the pid now names a process started at another time) is stale and broken, under a
// second `<name>.lock.break` lock so that two processes breaking the same stale lock
// cannot both end up holding the fresh one. A lock from another host (a data dir on a
// network file system) is never judged stale: remove it by hand if that host is gone.

import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf, fsError, isNotFound } from '../fs/index.js';

/** How often a waiting acquire looks at the lock again. */
const POLL_MS = 50;

interface Owner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); null where there is no /proc. */
  start: string | null;
  host: string;
}

/** The holder of a lock that is not stale, as returned when acquiring gives up. */
export class LockHeldError extends Error {
  constructor(readonly holder: string) {
    super(`lock held by ${holder}`);
  }
}

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const self: Owner = { pid: process.pid, start: startTime(process.pid), host: os.hostname() };

function describe(owner: Owner): string {
  return `process ${owner.pid}${owner.host === self.host ? '' : ` on ${owner.host}`}`;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && (typeof o.start === 'string' || o.start === null)) return o as Owner;
  } catch { /* malformed: undefined */ }
  return undefined;
}

/** Whether the lock's owner may still be running. Unreadable owners (left by a crash mid-write of the disk) are not. */
function alive(owner: Owner | undefined): boolean {
  if (owner === undefined) return false;
  if (owner.host !== self.host) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err: unknown) {
    if (errnoOf(err) === 'ESRCH') return false;
  }
  // The pid exists (or we may not signal it): the same process only if it started when the owner did.
  if (owner.start !== null) {
    const now = startTime(owner.pid);
    if (now !== null && now !== owner.start) return false;
  }
  return true;
}

/** Links a file holding our owner record to `file`; false if `file` exists. */
async function tryLink(file: string): Promise<boolean> {
  const mine = `${file}.${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(mine, JSON.stringify(self), { flag: 'wx' });
    try {
      await link(mine, file);
      return true;
    } catch (err: unknown) {
      if (errnoOf(err) === 'EEXIST') return false;
      throw err;
    }
  } catch (err: unknown) {
    throw fsError(err, file, 'locking');
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}

/** The lock's text, or undefined if there is no lock. */
async function readLock(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err: unknown) {
    if (isNotFound(err)) return undefined;
    throw fsError(err, file, 'reading');
  }
}

async function unlinkIfAbsentOk(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err: unknown) {
    if (!isNotFound(err)) throw fsError(err, file, 'unlocking');
  }
}

/** Removes `file` if it still holds `staleText`, under the break lock; resolves once a retry makes sense. */
async function breakStale(file: string, staleText: string): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await tryLink(breaker))) {
    // Another process is breaking it right now (a few system calls), or died doing so.
    const text = await readLock(breaker);
    if (text !== undefined && !alive(parseOwner(text))) await unlinkIfAbsentOk(breaker);
    await sleep(POLL_MS / 5);
    return;
  }
  try {
    if ((await readLock(file)) === staleText) await unlinkIfAbsentOk(file);
  } finally {
    await unlinkIfAbsentOk(breaker);
  }
}

export class FileLock {
  #held = true;

  private constructor(readonly file: string) {}

  /**
   * Takes the lock at `file`, breaking a stale one. If a live owner holds it, retries
   * for up to `waitMs` and then throws LockHeldError naming that owner.
   */
  static async acquire(file: string, waitMs = 0): Promise<FileLock> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (await tryLink(file)) return new FileLock(file);
      const text = await readLock(file);
      if (text === undefined) continue;
      const owner = parseOwner(text);
      if (!alive(owner)) {
        await breakStale(file, text);
        continue;
      }
      if (Date.now() >= deadline) throw new LockHeldError(describe(owner!));
      await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
    }
  }

  get held(): boolean {
    return this.#held;
  }

  /** Removes the lock if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    const text = await readLock(this.file);
    if (text !== undefined && text === JSON.stringify(self)) await unlinkIfAbsentOk(this.file);
  }
}
