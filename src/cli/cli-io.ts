// The CLI's plumbing: parsing flags, opening inputs and outputs ('-' or absent
// means stdin/stdout), writing with backpressure, and mapping errors to exit codes.

import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CastorError } from '../verify/index.js';
import { FileReader, StreamReader, type ByteReader } from '../verify/index.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** Ends a command with exit `status`; reportError prints it as `castor: message`. */
export class CommandExit extends CastorError {
  constructor(readonly status: number, message: string, code = 'COMMAND_EXIT') {
    super(code, message);
  }
}

/** Bad command line: exit 2. */
export class UsageError extends CommandExit {
  constructor(message: string) {
    super(2, message, 'USAGE');
  }
}

/** The first line of an error's message: messages from other layers may run on. */
export function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** Exit code for an error: a CommandExit's own status (2 for usage), else 1 for a run-time failure (verification first of all). */
export function reportError(err: unknown, io: Io): number {
  io.err(`castor: ${err instanceof Error ? err.message : String(err)}\n`);
  return err instanceof CommandExit ? err.status : 1;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** -h/--help, for commands' option sets. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** Strict util.parseArgs; a parse error is a UsageError, prefixed with `where` (the sub-command) when given. */
export function parse(argv: string[], options: Options, where?: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err: unknown) {
    throw new UsageError(where === undefined ? oneLine(err) : `${where}: ${oneLine(err)}`);
  }
}

export function intArg(value: string | boolean | undefined, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new UsageError(`${name} must be a non-negative integer, got ${String(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${value}`);
  return n;
}

export function isStdio(path: string | undefined): boolean {
  return path === undefined || path === '-';
}

/** An input as a reader: files are read at positions (skips are free), stdin as a stream. */
export async function openReader(path: string | undefined): Promise<{ reader: ByteReader; close: () => Promise<void> }> {
  if (isStdio(path)) return { reader: new StreamReader(stdinStream()), close: async () => {} };
  const fh = await open(path!, 'r');
  return { reader: new FileReader(fh), close: () => fh.close() };
}

export async function openFile(path: string): Promise<FileHandle> {
  return open(path, 'r');
}

/**
 * Runs `body` on the open descriptor and size of `path` when it is a regular file
 * (random access, so hashing can use every core); undefined for stdin, pipes and
 * devices, which the caller streams instead.
 */
export async function onRegularFile<T>(path: string | undefined, body: (fd: number, size: number) => Promise<T>): Promise<T | undefined> {
  if (isStdio(path)) return undefined;
  const fh = await open(path!, 'r');
  try {
    const st = await fh.stat();
    return st.isFile() ? await body(fh.fd, st.size) : undefined;
  } finally {
    await fh.close();
  }
}

/** stdin as node hands it out (reading fd 0 directly fails on non-blocking pipes). */
function stdinStream(): AsyncIterable<Uint8Array> {
  return process.stdin;
}

export function inputStream(path: string | undefined): AsyncIterable<Uint8Array> {
  return isStdio(path) ? stdinStream() : createReadStream(path!, { highWaterMark: 1 << 20 });
}

export interface Output {
  /** Returns a promise only when the caller must wait (backpressure). */
  write(bytes: Uint8Array): Promise<void> | void;
  end(): Promise<void>;
}

/** Waits for 'drain' or 'error', removing both listeners either way (once() would leave the other behind). */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onError = (err: Error): void => settle(err);
    stream.on('drain', onDrain);
    stream.on('error', onError);
  });
}

/** A file or stdout, written with backpressure. */
export function openOutput(path: string | undefined): Output {
  // A deep queue lets many small verified pieces go out in one writev.
  const stream: Writable = isStdio(path) ? process.stdout : createWriteStream(path!, { highWaterMark: 4 << 20 });
  let failed: Error | undefined;
  stream.on('error', (e: Error) => { failed = e; });
  return {
    write(bytes) {
      if (failed) throw failed;
      if (!stream.write(bytes)) return drained(stream);
    },
    async end() {
      if (failed) throw failed;
      if (stream === process.stdout) return;
      await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    },
  };
}

export function parseHash(text: string | undefined): Uint8Array {
  if (text === undefined) throw new UsageError('missing HASH');
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UsageError(`HASH must be 64 hex digits, got '${text}'`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}
