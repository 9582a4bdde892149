// castor fetch DIGEST [OUTPUT] --peer MULTIADDR...: a blob or tree from peers into the
// store (and OUTPUT), every group verified before it is written. The fetching is the
// node's (src/node); this command starts a node in-process, dials, fetches and stops.

import { formatDigest } from '../../store/digest.js';
import { exportNode } from '../../store/export.js';
import { CastorError } from '../../verify/errors.js';
import { HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { progressBar, type Progress } from '../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, digestArg, findOrFail, openStore } from '../store-options.js';

const HELP = `Usage: castor fetch DIGEST [OUTPUT] --peer MULTIADDR... [--force] [--json] [--data-dir DIR]

Fetches the tree or blob DIGEST from the peers given into the store: a tree's
Directories first (each checked against the digest its parent names), then its files'
blobs, several at once. Every 16 KiB group is verified against DIGEST before it is
written; a peer that sends anything else is named and nothing unverified is kept. A
fetch that was interrupted, even killed, fetches only what is still missing when run
again. With OUTPUT, the tree or file is then written there as \`castor get\` does.
  --peer MULTIADDR  a peer to fetch from, as /ip4/ADDR/tcp/PORT/p2p/PEER_ID (repeatable)
  --force           replace OUTPUT if it exists
  --json            print {"digest", "type", "bytes", "fetched_bytes", "files", "output"}
${DATA_DIR_HELP}
Exit status: 0 fetched, 1 no peer has it, a peer sent bad data, or an I/O failure, 2 bad usage.
`;

/** Errors from the node that are the user's arguments, not the network's doing. */
const USAGE_CODES = new Set(['INVALID_ADDRESS']);

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      ...HELP_OPTION, ...DATA_DIR_OPTION, peer: { type: 'string', multiple: true }, force: { type: 'boolean' }, json: { type: 'boolean' },
    }, 'fetch');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`fetch: expected DIGEST [OUTPUT], got ${positionals.length} arguments`);
    const digest = digestArg(positionals[0]);
    const output = positionals[1];
    const peers = (values['peer'] as unknown as string[] | undefined) ?? [];
    if (peers.length === 0) throw new UsageError('fetch: give at least one --peer MULTIADDR');
    const data = await openStore(values, { create: true });
    const { CastorNode } = await import('../../node/castor-node.js');
    const node = await CastorNode.start(data, { listen: [] });
    let bar: Progress | undefined;
    let result;
    try {
      result = await node.fetch(digest, {
        peers,
        onProgress: (p) => {
          if (p.total !== undefined) (bar ??= progressBar(`fetch ${formatDigest(digest).slice(0, 12)}`, p.total)).update(p.bytes);
        },
      });
      bar?.finish();
    } catch (err: unknown) {
      if (err instanceof CastorError && USAGE_CODES.has(err.code)) throw new UsageError(`fetch: ${err.message}`);
      throw err;
    } finally {
      await node.stop();
    }
    if (output !== undefined) {
      const found = await findOrFail(data, digest);
      await exportNode(found.node, output, { ...data, force: values['force'] === true });
    }
    if (values['json']) {
      io.out(`${JSON.stringify({
        digest: formatDigest(digest), type: result.type, bytes: result.bytes, fetched_bytes: result.fetchedBytes, files: result.files,
        ...(output !== undefined && { output }),
      })}\n`);
    }
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
