// castor cat DIGEST [--range START:END]: a blob's verified bytes on stdout.

import { formatDigest } from '../../store/index.js';
import { CommandExit, HELP_OPTION, openOutput, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, findOrFail, openStore } from '../store-options.js';

const HELP = `Usage: castor cat DIGEST [--range START:END] [--data-dir DIR]

Writes the content of blob DIGEST to stdout, each 16 KiB group verified against DIGEST
before it is written; on damage it stops with an error naming the bad chunk, having
written only verified bytes. --range reads bytes START to END (END excluded; either
may be left out: '1000:' or ':4096'), touching only the chunks under the range.
${DATA_DIR_HELP}
Exit status: 0 written, 1 not in the store, a directory, or corrupt, 2 bad usage.
`;

/** START:END, half-open, either side optional. */
export function parseRange(text: string): { start: number; end: number } {
  const m = /^(\d*):(\d*)$/.exec(text);
  if (!m || (m[1] === '' && m[2] === '' && text !== ':')) throw new UsageError(`--range must be START:END, got '${text}'`);
  const start = m[1] === '' ? 0 : Number(m[1]);
  const end = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw new UsageError(`--range bounds must be below 2^53, got '${text}'`);
  if (end < start) throw new UsageError(`--range ends before it starts: '${text}'`);
  return { start, end };
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, range: { type: 'string' } }, 'cat');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`cat: expected one DIGEST, got ${positionals.length}`);
    const digest = digestArg(positionals[0]);
    const range = typeof values['range'] === 'string' ? parseRange(values['range']) : undefined;
    const data = await openStore(values);
    const found = await findOrFail(data, digest);
    if (found.type !== 'blob') throw new CommandExit(1, `${formatDigest(digest)} is a directory; use 'castor ls' or 'castor get'`, 'IS_DIRECTORY');
    const stream = await data.blobs.read(digest, range);
    if (stream === undefined) throw new CommandExit(1, `${formatDigest(digest)} was removed while being read`, 'NOT_FOUND');
    const out = openOutput(undefined);
    for await (const piece of stream) await out.write(piece);
    await out.end();
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
