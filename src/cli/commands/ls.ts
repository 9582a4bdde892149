// castor ls DIGEST [-r]: the entries of a stored tree.

import { nodesOf, type Directory, type Node } from '../../store/index.js';
import { asDigest, formatDigest } from '../../store/index.js';
import { MissingChildError } from '../../store/index.js';
import { showPath } from '../../store/index.js';
import { HELP_OPTION, openOutput, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, findOrFail, openStore } from '../store-options.js';
import type { DataDir } from '../../store/index.js';

const HELP = `Usage: castor ls DIGEST [-r] [--json] [--data-dir DIR]

Lists the entries of directory DIGEST, one per line: TYPE SIZE DIGEST NAME, where TYPE
is d (directory; SIZE is its castore entry count), f (file; SIZE in bytes), x
(executable file) or l (symlink; NAME -> TARGET). Names that are not UTF-8 are shown
with \\xNN escapes. For a blob DIGEST, prints its one line.
  -r, --recursive  the whole tree, depth-first, with paths relative to DIGEST
  --json           one JSON object per entry: {"path", "type", "size", "digest", "executable", "target"}
${DATA_DIR_HELP}
Exit status: 0 listed, 1 not in the store or corrupt, 2 bad usage.
`;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, recursive: { type: 'boolean', short: 'r' }, json: { type: 'boolean' } }, 'ls');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`ls: expected one DIGEST, got ${positionals.length}`);
    const digest = digestArg(positionals[0]);
    const data = await openStore(values);
    const found = await findOrFail(data, digest);
    const out = openOutput(undefined);
    const json = values['json'] === true;
    if (found.type === 'blob') {
      await out.write(Buffer.from(line(found.node, '', json)));
    } else {
      await list(data, found.directory, '', values['recursive'] === true, json, out);
    }
    await out.end();
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}

async function list(data: DataDir, dir: Directory, prefix: string, recursive: boolean, json: boolean, out: ReturnType<typeof openOutput>): Promise<void> {
  for (const node of nodesOf(dir)) {
    const name = prefix + showPath(nameOf(node));
    await out.write(Buffer.from(line(node, name, json)));
    if (recursive && 'directory' in node) {
      const child = await data.directories.get(asDigest(node.directory.digest));
      if (child === undefined) throw new MissingChildError(undefined, node.directory.name, asDigest(node.directory.digest));
      await list(data, child, `${name}/`, recursive, json, out);
    }
  }
}

function nameOf(node: Node): Uint8Array {
  return 'directory' in node ? node.directory.name : 'file' in node ? node.file.name : node.symlink.name;
}

function line(node: Node, path: string, json: boolean): string {
  if ('directory' in node) {
    const { digest, size } = node.directory;
    if (json) return `${JSON.stringify({ path, type: 'directory', size: Number(size), digest: formatDigest(digest) })}\n`;
    return `d ${String(size).padStart(12)} ${formatDigest(digest)} ${path}/\n`;
  }
  if ('file' in node) {
    const { digest, size, executable } = node.file;
    if (json) return `${JSON.stringify({ path, type: 'file', size: Number(size), digest: formatDigest(digest), executable })}\n`;
    return `${executable ? 'x' : 'f'} ${String(size).padStart(12)} ${formatDigest(digest)} ${path}\n`;
  }
  const target = showPath(node.symlink.target);
  if (json) return `${JSON.stringify({ path, type: 'symlink', target })}\n`;
  return `l ${'-'.padStart(12)} ${'-'.padEnd(64)} ${path} -> ${target}\n`;
}
