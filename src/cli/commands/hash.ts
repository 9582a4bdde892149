// castor hash [FILE...]: BLAKE3 of files or stdin, one b3sum-style line each.

import { hashFile, Hasher, toHex } from '../../verify/index.js';
import { inputStream, intArg, onRegularFile, parse, processIo, reportError, type Io } from '../cli-io.js';
import { progressBar } from '../progress.js';

export const HASH_HELP = `Usage: castor hash [FILE...] [--no-names] [--json] [--threads N]

Prints the BLAKE3 hash of each FILE (or of stdin when FILE is absent or '-') as
'HASH  NAME' lines, as b3sum does. Large files are hashed on all cores.
  --no-names   print only the hashes
  --json       print one JSON object per line: {"path", "hash", "size"}
  --threads N  worker threads for large files (default: one per core)
Exit status: 0 if every file was hashed, 1 if any could not be read, 2 on bad usage.
`;

/** Hashes one input: a regular file on all cores, anything else as a stream. */
export async function hashInput(path: string | undefined, threads?: number): Promise<{ hash: Uint8Array; length: number }> {
  const fromFile = await onRegularFile(path, (fd, size) => hashFd(fd, size, threads));
  if (fromFile) return fromFile;
  const h = new Hasher();
  for await (const piece of inputStream(path)) h.update(piece);
  return h.finalize();
}

async function hashFd(fd: number, size: number, threads?: number): Promise<{ hash: Uint8Array; length: number }> {
  const bar = progressBar('hash', size);
  const r = await hashFile(fd, size, { threads, onProgress: (n: number) => bar.update(n) });
  bar.finish();
  return r;
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { 'no-names': { type: 'boolean' }, json: { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values['help']) {
      io.out(HASH_HELP);
      return 0;
    }
    const threads = values['threads'] === undefined ? undefined : intArg(values['threads'], '--threads', 1, 1, 256);
    const paths = positionals.length > 0 ? positionals : ['-'];
    let status = 0;
    for (const path of paths) {
      try {
        const r = await hashInput(path, threads);
        const hex = toHex(r.hash);
        if (values['json']) io.out(`${JSON.stringify({ path, hash: hex, size: r.length })}\n`);
        else io.out(values['no-names'] ? `${hex}\n` : `${hex}  ${path}\n`);
      } catch (err: unknown) {
        status = reportError(err, io);
      }
    }
    return status;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
