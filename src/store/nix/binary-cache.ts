// Reading a Nix binary cache (`file:///dir` or `http(s)://host/prefix`): its
// nix-cache-info, narinfos by hash part, and NAR files by a narinfo's URL. What comes
// back is a claim: callers check narinfos' signatures and NARs' hashes.

import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastorError } from '../../verify/index.js';
import { MAX_NARINFO_BYTES } from './narinfo.js';
import { checkHashPart, STORE_DIR } from './store-path.js';

/** A cache stalled this long between two reads is given up on (the progress rule). */
export const CACHE_IDLE_TIMEOUT_MS = 30_000;
/** nix-cache-info is a few lines; more is not one. */
const MAX_CACHE_INFO_BYTES = 64 * 1024;

export type BinaryCacheReason = 'BAD_URL' | 'UNREACHABLE' | 'HTTP_STATUS' | 'TOO_LARGE' | 'STALLED' | 'WRONG_STORE_DIR';

/** A cache that cannot be read as asked. `value` is the URL at fault. */
export class BinaryCacheError extends CastorError {
  readonly reason: BinaryCacheReason;
  constructor(reason: BinaryCacheReason, detail: string, url: string, options?: { cause?: unknown }) {
    super('BINARY_CACHE', `${url}: ${detail}`, url, options);
    this.reason = reason;
  }
}

export interface BinaryCache {
  /** The cache's URL as given (no trailing slash). */
  readonly url: string;
  /** Checks nix-cache-info (when the cache has one) names /nix/store. */
  checkInfo(): Promise<void>;
  /** The narinfo text filed under `hashPart`, or undefined when the cache does not have it. */
  narinfo(hashPart: string): Promise<Uint8Array | undefined>;
  /** The file a narinfo's URL names (relative to the cache), as it is read. */
  nar(relative: string): AsyncIterable<Uint8Array>;
}

/** The cache at `url`: `file:///dir`, `http://...` or `https://...`. Throws BinaryCacheError BAD_URL. */
export function openBinaryCache(url: string): BinaryCache {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err: unknown) {
    throw new BinaryCacheError('BAD_URL', 'not a URL (file:///dir, http://host[/prefix])', url, { cause: err });
  }
  if (parsed.search !== '' || parsed.hash !== '') throw new BinaryCacheError('BAD_URL', 'a cache URL takes no ?query or #fragment here', url);
  const base = url.replace(/\/+$/u, '');
  if (parsed.protocol === 'file:') return new FileBinaryCache(base);
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return new HttpBinaryCache(base);
  throw new BinaryCacheError('BAD_URL', `unsupported scheme ${parsed.protocol} (file, http, https)`, url);
}

/** A narinfo's URL, checked to stay inside the cache: relative, no `..`, no query. */
function checkRelative(cacheUrl: string, relative: string): string {
  const segments = relative.split('/');
  if (relative.length === 0 || relative.startsWith('/') || /[?#\\:]/u.test(relative) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new BinaryCacheError('BAD_URL', `narinfo URL ${JSON.stringify(relative)} is not a plain path inside the cache`, cacheUrl);
  }
  return relative;
}

function checkStoreDir(text: string, url: string): void {
  const m = /^StoreDir: (.*)$/mu.exec(text);
  if (m !== null && m[1] !== STORE_DIR) throw new BinaryCacheError('WRONG_STORE_DIR', `the cache is for store ${m[1]}, not ${STORE_DIR}`, url);
}

class FileBinaryCache implements BinaryCache {
  readonly #dir: string;
  constructor(readonly url: string) {
    this.#dir = fileURLToPath(url);
  }

  async #read(name: string, max: number): Promise<Buffer | undefined> {
    const file = path.join(this.#dir, name);
    try {
      const bytes = await readFile(file);
      if (bytes.length > max) throw new BinaryCacheError('TOO_LARGE', `${name} is ${bytes.length} bytes, more than ${max}`, this.url);
      return bytes;
    } catch (err: unknown) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (err instanceof BinaryCacheError) throw err;
      throw new BinaryCacheError('UNREACHABLE', `cannot read ${name}: ${(err as Error).message}`, this.url, { cause: err });
    }
  }

  async checkInfo(): Promise<void> {
    const info = await this.#read('nix-cache-info', MAX_CACHE_INFO_BYTES);
    if (info !== undefined) checkStoreDir(info.toString('utf8'), this.url);
  }

  narinfo(hashPart: string): Promise<Uint8Array | undefined> {
    return this.#read(`${checkHashPart(hashPart)}.narinfo`, MAX_NARINFO_BYTES);
  }

  async *nar(relative: string): AsyncIterable<Uint8Array> {
    const file = path.join(this.#dir, checkRelative(this.url, relative));
    try {
      yield* createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
    } catch (err: unknown) {
      throw new BinaryCacheError('UNREACHABLE', `cannot read ${relative}: ${(err as Error).message}`, this.url, { cause: err });
    }
  }
}

/** Statuses Nix takes as "not in this cache". */
const ABSENT = new Set([404, 410, 403, 401]);

class HttpBinaryCache implements BinaryCache {
  constructor(readonly url: string) {}

  /** A GET whose body must keep arriving: the idle timer restarts with every piece. */
  async *#get(relative: string, absentOk: boolean, max: number): AsyncGenerator<Uint8Array, boolean> {
    const target = `${this.url}/${relative}`;
    const abort = new AbortController();
    let stalled = false;
    // Unref'd: the socket keeps the process alive while a read is due; a reader that
    // walked away must not hold it open until the timer fires.
    const arm = (): NodeJS.Timeout => setTimeout(() => { stalled = true; abort.abort(); }, CACHE_IDLE_TIMEOUT_MS).unref();
    let timer = arm();
    const rearm = (): void => {
      clearTimeout(timer);
      timer = arm();
    };
    try {
      const res = await fetch(target, { signal: abort.signal, redirect: 'follow' });
      if (!res.ok) {
        await res.body?.cancel();
        if (absentOk && ABSENT.has(res.status)) return false;
        throw new BinaryCacheError('HTTP_STATUS', `GET ${relative}: HTTP ${res.status}`, this.url);
      }
      if (res.body === null) return true;
      let n = 0;
      for await (const piece of res.body as AsyncIterable<Uint8Array>) {
        rearm();
        n += piece.length;
        if (n > max) {
          abort.abort();
          throw new BinaryCacheError('TOO_LARGE', `GET ${relative}: more than ${max} bytes`, this.url);
        }
        yield piece;
      }
      return true;
    } catch (err: unknown) {
      if (err instanceof BinaryCacheError) throw err;
      if (stalled) throw new BinaryCacheError('STALLED', `GET ${relative}: nothing received for ${CACHE_IDLE_TIMEOUT_MS / 1000} s`, this.url, { cause: err });
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new BinaryCacheError('UNREACHABLE', `GET ${relative}: ${(err as Error).message}${cause !== undefined ? ` (${cause})` : ''}`, this.url, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async #small(relative: string, max: number): Promise<Uint8Array | undefined> {
    const parts: Uint8Array[] = [];
    const it = this.#get(relative, true, max);
    for (;;) {
      const r = await it.next();
      if (r.done === true) return r.value ? Buffer.concat(parts) : undefined;
      parts.push(r.value);
    }
  }

  async checkInfo(): Promise<void> {
    const info = await this.#small('nix-cache-info', MAX_CACHE_INFO_BYTES);
    if (info !== undefined) checkStoreDir(Buffer.from(info).toString('utf8'), this.url);
  }

  narinfo(hashPart: string): Promise<Uint8Array | undefined> {
    return this.#small(`${checkHashPart(hashPart)}.narinfo`, MAX_NARINFO_BYTES);
  }

  async *nar(relative: string): AsyncIterable<Uint8Array> {
    yield* this.#get(checkRelative(this.url, relative), false, Number.MAX_SAFE_INTEGER);
  }
}
