// castor hash [FILE...]: BLAKE3 of files or stdin, one b3sum-style line each.

import { fstat } from 'node:fs';
import { promisify } from 'node:util';
import { Hasher, toHex } from '../../verify/blake3/index.js';
import { inputStream, isStdio, openFile, parse, processIo, reportError, type Io } from '../cli-io.js';
import { progressBar } from '../progress.js';

const fstatAsync = promisify(fstat);

export const HASH_HELP = `Usage: castor hash [FILE...] [--no-names] [--json]

Prints the BLAKE3 hash of each FILE (or of stdin when FILE is absent or '-') as
'HASH  NAME' lines, as b3sum does. Large files are hashed on all cores.
  --no-names   print only the hashes
  --json       print one JSON object per line: {"path", "hash", "size"}
Exit status: 0 if every file was hashed, 1 if any could not be read, 2 on bad usage.
`;

/** Hashes one input: a regular file on all cores, anything else as a stream. */
export async function hashInput(path: string | undefined): Promise<{ hash: Uint8Array; length: number }> {
  if (!isStdio(path)) {
    const fh = await openFile(path!);
    try {
      const st = await fstatAsync(fh.fd);
      if (st.isFile()) return await hashFd(fh.fd, st.size);
    } finally {
      await fh.close();
    }
  }
  const h = new Hasher();
  for await (const piece of inputStream(path)) h.update(piece);
  return h.finalize();
}

async function hashFd(fd: number, size: number): Promise<{ hash: Uint8Array; length: number }> {
  const bar = progressBar('hash', size);
  const { hashFile } = (await import('../../verify/blake3/index.js')) as unknown as { hashFile: (fd: number, size: number, o: { onProgress: (n: number) => void }) => Promise<{ hash: Uint8Array; length: number }> };
  const r = await hashFile(fd, size, { onProgress: (n: number) => bar.update(n) });
  bar.finish();
  return r;
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { 'no-names': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (values['help']) {
      io.out(HASH_HELP);
      return 0;
    }
    const paths = positionals.length > 0 ? positionals : ['-'];
    let status = 0;
    for (const path of paths) {
      try {
        const r = await hashInput(path);
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
