// `castor chunk`: split a file or stdin with FastCDC 2020 and list each chunk's offset, length and BLAKE3.

import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { type ChunkerOptions, DEFAULT_CHUNKER, chunkStream, cutParams } from '../../store/fastcdc.js';
import { blake3, toHex } from '../../verify/blake3/index.js';

const USAGE = 'usage: castor chunk [FILE|-] [--min N] [--avg N] [--max N] [--normalization 0-3]';

// Large reads mean most chunks are views of one read buffer rather than copies.
const READ_SIZE = 1 << 20;

/** Bad command line; reported in one line with exit status 2. */
class UsageError extends Error {}

function sizeArg(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

function parse(argv: string[]): { file: string; opts: ChunkerOptions } {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      min: { type: 'string' },
      avg: { type: 'string' },
      max: { type: 'string' },
      normalization: { type: 'string' },
    },
  });
  if (positionals.length > 1) throw new UsageError(`expected at most one FILE, got ${positionals.length}`);
  const level = values.normalization ?? String(DEFAULT_CHUNKER.normalization ?? 1);
  if (level !== '0' && level !== '1' && level !== '2' && level !== '3') {
    throw new UsageError(`--normalization must be 0, 1, 2 or 3, got '${level}'`);
  }
  const opts: ChunkerOptions = {
    min: sizeArg('min', values.min, DEFAULT_CHUNKER.min),
    avg: sizeArg('avg', values.avg, DEFAULT_CHUNKER.avg),
    max: sizeArg('max', values.max, DEFAULT_CHUNKER.max),
    normalization: Number(level) as 0 | 1 | 2 | 3,
  };
  cutParams(opts); // reject bad sizes before opening anything
  return { file: positionals[0] ?? '-', opts };
}

async function write(s: string): Promise<void> {
  if (!process.stdout.write(s)) await once(process.stdout, 'drain');
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/** Exit status: 0 ok, 1 the input could not be read, 2 bad usage or options. */
export async function run(argv: string[]): Promise<number> {
  let file: string;
  let opts: ChunkerOptions;
  try {
    ({ file, opts } = parse(argv));
  } catch (e: unknown) {
    // parseArgs' own errors (unknown option, missing value) land here too.
    process.stderr.write(`castor chunk: ${firstLine(e)} (${USAGE})\n`);
    return 2;
  }
  const source = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: READ_SIZE });
  try {
    // Batched so that small chunk sizes do not mean one write call per line.
    let lines = '';
    for await (const chunk of chunkStream(source, opts)) {
      lines += `${chunk.offset} ${chunk.length} ${toHex(blake3(chunk.data))}\n`;
      if (lines.length >= 1 << 16) {
        await write(lines);
        lines = '';
      }
    }
    await write(lines);
  } catch (e: unknown) {
    process.stderr.write(`castor chunk: ${file}: ${firstLine(e)}\n`);
    return 1;
  }
  return 0;
}
