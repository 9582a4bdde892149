// `castor chunk`: split a file or stdin with FastCDC 2020 and list each chunk's offset, length and BLAKE3.

import { type ChunkerOptions, DEFAULT_CHUNKER, chunkStream, cutParams } from '../../store/index.js';
import { blake3, toHex } from '../../verify/index.js';
import { CommandExit, HELP_OPTION, type Io, inputStream, intArg, oneLine, openOutput, parse, processIo, reportError, UsageError } from '../cli-io.js';

const USAGE = 'usage: castor chunk [FILE|-] [--min N] [--avg N] [--max N] [--normalization 0-3]';

const HELP = `${USAGE}

Splits FILE (or stdin) with FastCDC 2020, cut points identical to the Rust fastcdc
crate's v2020, and prints one line per chunk: OFFSET LENGTH BLAKE3-DIGEST.
Defaults: --min ${DEFAULT_CHUNKER.min} --avg ${DEFAULT_CHUNKER.avg} --max ${DEFAULT_CHUNKER.max} --normalization ${DEFAULT_CHUNKER.normalization ?? 1}.
Exit status: 0 ok, 1 the input could not be read, 2 bad usage or options.
`;

const OPTIONS = {
  ...HELP_OPTION,
  min: { type: 'string' },
  avg: { type: 'string' },
  max: { type: 'string' },
  normalization: { type: 'string' },
} as const;

/** Every failure here, cutParams' included, is bad usage: exit 2. */
function chunkArgs(argv: string[]): { file: string; opts: ChunkerOptions; help: boolean } {
  try {
    const { values, positionals } = parse(argv, OPTIONS);
    if (values['help']) return { file: '-', opts: DEFAULT_CHUNKER, help: true };
    if (positionals.length > 1) throw new UsageError(`expected at most one FILE, got ${positionals.length}`);
    const opts: ChunkerOptions = {
      min: intArg(values['min'], '--min', DEFAULT_CHUNKER.min),
      avg: intArg(values['avg'], '--avg', DEFAULT_CHUNKER.avg),
      max: intArg(values['max'], '--max', DEFAULT_CHUNKER.max),
      normalization: intArg(values['normalization'], '--normalization', DEFAULT_CHUNKER.normalization ?? 1, 0, 3) as 0 | 1 | 2 | 3,
    };
    cutParams(opts); // reject bad sizes before opening anything
    return { file: positionals[0] ?? '-', opts, help: false };
  } catch (e: unknown) {
    throw new UsageError(`chunk: ${oneLine(e)} (${USAGE})`);
  }
}

async function listChunks(file: string, opts: ChunkerOptions): Promise<void> {
  const out = openOutput(undefined);
  // Batched so that small chunk sizes do not mean one write call per line.
  let lines = '';
  for await (const chunk of chunkStream(inputStream(file), opts)) {
    lines += `${chunk.offset} ${chunk.length} ${toHex(blake3(chunk.data))}\n`;
    if (lines.length >= 1 << 16) {
      await out.write(Buffer.from(lines));
      lines = '';
    }
  }
  await out.write(Buffer.from(lines));
}

/** Exit status: 0 ok, 1 the input could not be read, 2 bad usage or options. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { file, opts, help } = chunkArgs(argv);
    if (help) {
      io.out(HELP);
      return 0;
    }
    try {
      await listChunks(file, opts);
    } catch (e: unknown) {
      throw new CommandExit(1, `chunk: ${file}: ${oneLine(e)}`);
    }
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
