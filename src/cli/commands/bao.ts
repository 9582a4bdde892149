// castor bao encode|decode|slice|decode-slice: bao's command line, with chunk groups.

import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import os from 'node:os';
import path from 'node:path';
import {
  buildOutboard, CombinedSource, outboardFile, type Outboard, decode, DEFAULT_GROUP_LOG, extractSlice, FileReader, MAX_GROUP_LOG, OutboardSource,
  sliceSource, writeCombined, type ByteRange, type TreeSource,
} from '../../verify/index.js';
import { progressBar } from '../progress.js';
import { closeWorkerPool } from '../../verify/index.js';
import {
  inputStream, intArg, isStdio, onRegularFile, openFile, openOutput, openReader, parse, parseHash, processIo, reportError, UsageError, type Io, type Output,
} from '../cli-io.js';

export const BAO_HELP = `Usage:
  castor bao encode INPUT [OUTPUT] [--outboard FILE] [--group-log G] [--threads N]
  castor bao decode HASH [INPUT] [OUTPUT] [--outboard FILE] [--start N] [--count N] [--group-log G]
  castor bao slice START COUNT [INPUT] [OUTPUT] [--outboard FILE] [--group-log G]
  castor bao decode-slice HASH START COUNT [INPUT] [OUTPUT] [--group-log G]

bao verified streaming. '-' or an absent path means stdin/stdout.
  encode        write the combined encoding of INPUT to OUTPUT, or with --outboard
                only the outboard (length header + parent nodes) to FILE
  decode        verify and write the content; with --outboard, INPUT is the raw
                content and FILE its outboard; --start/--count decode a range
  slice         extract the part of an encoding (or of INPUT + --outboard) that
                proves the bytes START..START+COUNT
  decode-slice  verify a slice against HASH and write those bytes
  --threads N   worker threads for hashing large files (default: one per core)
  --group-log G chunk groups of 2^G 1 KiB chunks, 0..${MAX_GROUP_LOG} (default ${DEFAULT_GROUP_LOG};
                0 is byte-compatible with the bao crate)
Exit status: 0 success, 1 verification or I/O failure (nothing of a failing
group is written), 2 bad usage.
`;

const FLAGS = {
  outboard: { type: 'string' },
  'group-log': { type: 'string' },
  start: { type: 'string' },
  count: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function arity(pos: string[], min: number, max: number, usage: string): void {
  if (pos.length < min || pos.length > max) throw new UsageError(`usage: castor bao ${usage}`);
}

async function withOutput(target: string | undefined, body: (out: Output) => Promise<void>): Promise<void> {
  const out = openOutput(target);
  try {
    await body(out);
  } finally {
    await out.end();
  }
}

/** Hash and outboard in one pass: a regular file on all cores, anything else as a stream. */
async function outboardOfInput(input: string | undefined, g: number, threads: number | undefined): Promise<Outboard> {
  const fromFile = await onRegularFile(input, async (fd, size) => {
    const bar = progressBar('encode', size);
    const ob = await outboardFile(fd, size, g, { threads, onProgress: (n: number) => bar.update(n) });
    bar.finish();
    // The hashing workers are done; their memory should not stay beside the next pass.
    await closeWorkerPool();
    return ob;
  });
  if (fromFile) return fromFile;
  return buildOutboard(inputStream(input), g);
}

async function encode(pos: string[], g: number, outboardPath: string | undefined, threads: number | undefined): Promise<void> {
  arity(pos, 1, 2, 'encode INPUT [OUTPUT] [--outboard FILE]');
  const [input, output] = pos;
  if (outboardPath !== undefined && output !== undefined) throw new UsageError('encode writes either OUTPUT (combined) or --outboard FILE, not both');
  if (outboardPath !== undefined) {
    const ob = await outboardOfInput(input, g, threads);
    await writeAtomically(outboardPath, async (out) => out.write(ob.outboard));
    return;
  }
  // The combined encoding puts parents before the data they cover, so the content
  // is read twice: once to hash, once to interleave. stdin is spooled to a temp file.
  let dataPath = input;
  let spooled: string | undefined;
  if (isStdio(input)) {
    spooled = path.join(os.tmpdir(), `castor-spool-${process.pid}-${Date.now()}`);
    await spool(spooled);
    dataPath = spooled;
  }
  try {
    const ob = await outboardOfInput(dataPath, g, threads);
    const fh = await openFile(dataPath!);
    try {
      const write = async (out: Output): Promise<void> => writeCombined(ob.outboard, new FileReader(fh), (b) => out.write(b), g);
      if (isStdio(output)) await withOutput(undefined, write);
      else await writeAtomically(output!, write);
    } finally {
      await fh.close();
    }
  } finally {
    if (spooled) await rm(spooled, { force: true });
  }
}

async function spool(to: string): Promise<void> {
  await pipeline(process.stdin, createWriteStream(to, { mode: 0o600 }));
}

/** Writes to a temporary name beside the target and renames it into place, so a failure leaves no half-written file. */
async function writeAtomically(target: string, body: (out: Output) => Promise<void>): Promise<void> {
  const tmp = `${target}.castor-tmp-${process.pid}`;
  try {
    await withOutput(tmp, body);
    await rename(tmp, target);
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function openSource(input: string | undefined, outboardPath: string | undefined): Promise<{ source: TreeSource; close: () => Promise<void> }> {
  const data = await openReader(input);
  if (outboardPath === undefined) return { source: new CombinedSource(data.reader), close: data.close };
  const ob = await openReader(outboardPath);
  return { source: new OutboardSource(ob.reader, data.reader), close: async () => { await ob.close(); await data.close(); } };
}

async function decodeTo(source: TreeSource, hash: Uint8Array, g: number, ranges: ByteRange[] | undefined, output: string | undefined): Promise<void> {
  await withOutput(output, async (out) => {
    for await (const piece of decode(source, { hash, groupLog: g, ranges })) {
      const wait = out.write(piece);
      if (wait) await wait;
    }
  });
}

function rangeOf(startArg: string | boolean | undefined, countArg: string | boolean | undefined): ByteRange[] | undefined {
  if (startArg === undefined && countArg === undefined) return undefined;
  const start = intArg(startArg, '--start', 0);
  const count = intArg(countArg, '--count', Number.MAX_SAFE_INTEGER - start);
  if (start + count > Number.MAX_SAFE_INTEGER) throw new UsageError('--start + --count is too large');
  return [{ start, end: start + count }];
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(BAO_HELP);
      return sub === undefined ? 2 : 0;
    }
    const { values, positionals: pos } = parse(rest, FLAGS);
    if (values['help']) {
      io.out(BAO_HELP);
      return 0;
    }
    const g = intArg(values['group-log'], '--group-log', DEFAULT_GROUP_LOG, 0, MAX_GROUP_LOG);
    const outboardPath = values['outboard'] as string | undefined;
    switch (sub) {
      case 'encode':
        await encode(pos, g, outboardPath, values['threads'] === undefined ? undefined : intArg(values['threads'], '--threads', 1, 1, 256));
        return 0;
      case 'decode': {
        arity(pos, 1, 3, 'decode HASH [INPUT] [OUTPUT]');
        const hash = parseHash(pos[0]);
        const ranges = rangeOf(values['start'], values['count']);
        const { source, close } = await openSource(pos[1], outboardPath);
        try {
          await decodeTo(source, hash, g, ranges, pos[2]);
        } finally {
          await close();
        }
        return 0;
      }
      case 'slice': {
        arity(pos, 2, 4, 'slice START COUNT [INPUT] [OUTPUT]');
        const start = intArg(pos[0], 'START', 0);
        const count = intArg(pos[1], 'COUNT', 0);
        const { source, close } = await openSource(pos[2], outboardPath);
        try {
          await withOutput(pos[3], (out) => extractSlice(source, [{ start, end: start + count }], (b) => out.write(b), g));
        } finally {
          await close();
        }
        return 0;
      }
      case 'decode-slice': {
        arity(pos, 3, 5, 'decode-slice HASH START COUNT [INPUT] [OUTPUT]');
        if (outboardPath !== undefined) throw new UsageError('a slice carries its own parents: decode-slice takes no --outboard');
        const hash = parseHash(pos[0]);
        const start = intArg(pos[1], 'START', 0);
        const count = intArg(pos[2], 'COUNT', 0);
        const data = await openReader(pos[3]);
        try {
          await decodeTo(sliceSource(data.reader), hash, g, [{ start, end: start + count }], pos[4]);
        } finally {
          await data.close();
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown bao command '${sub}' (encode, decode, slice, decode-slice)`);
    }
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
