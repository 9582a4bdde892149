// castor fetch DIGEST|TICKET|KEY/NAME [OUTPUT] [--peer MULTIADDR]...: a blob or tree from
// peers into the store (and OUTPUT), every group verified before it is written. The
// fetching is the node's (src/node); this command runs in the daemon when one runs (its
// connected and LAN peers, and the DHT, find the content), else starts a node in-process
// (dialling --peer, or config.json's bootstrap peers and looking through the DHT),
// fetches and stops.

import { formatDigest } from '../../store/index.js';
import { exportNode } from '../../store/index.js';
import { CastorError } from '../../verify/index.js';
import { HELP_OPTION, oneLine, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { readNetworkConfig } from '../../node/index.js';
import { progressBar, type Progress } from '../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, findOrFail, openStore } from '../store-options.js';
import { daemonContext, runViaDaemon } from '../daemon-client.js';
import { needsPeers, parseFetchTarget, resolveFetchTarget } from '../fetch-target.js';
import { TRUSTED_KEY_HELP, TRUSTED_KEY_OPTION, trustedKeyOptions } from '../trust-options.js';
import { TrustStore } from '../../store/index.js';
import type { Digest } from '../../store/index.js';

const HELP = `Usage: castor fetch DIGEST|TICKET|KEY/NAME [OUTPUT] [--peer MULTIADDR]... [--trusted-key K]...
                    [--force] [--json] [--data-dir DIR]

Fetches the tree or blob DIGEST from peers into the store: a tree's Directories first
(each checked against the digest its parent names), then its files' blobs, several at
once. Every 16 KiB group is verified against DIGEST before it is
written; a peer that sends anything else is named and nothing unverified is kept. A
fetch that was interrupted, even killed, fetches only what is still missing when run
again. With OUTPUT, the tree or file is then written there as \`castor get\` does.
A TICKET (castor1..., from castor share) names the digest and the peer, dialled at the
first of its addresses that answers. KEY/NAME fetches the publisher KEY's newest signed
root from the peers, accepts it only under the trust rules (trusted key, valid
signature, no rollback below the last accepted, not expired), and fetches what NAME
names in its index; KEY is a key name, "name:base64", the public key, or a key file.
Which peers: those given with --peer, else those found by discovery: peers already
connected (those found on the LAN by mDNS first), then the providers castor's DHT names. When a daemon runs on the data dir the fetch runs there, with its
connections, mDNS and DHT; without one, a node of this command's own dials config.json's
"bootstrap" peers and looks through the DHT via them (with neither --peer nor bootstrap
peers, DIGEST and KEY/NAME have nothing to ask: start castor daemon or give --peer).
  --peer MULTIADDR  a peer to fetch from, as /ip4/ADDR/tcp/PORT/p2p/PEER_ID (repeatable);
                    only these are asked
  --force           replace OUTPUT if it exists
  --json            print {"digest", "type", "bytes", "fetched_bytes", "files", "output"}
${TRUSTED_KEY_HELP}
${DATA_DIR_HELP}
Exit status: 0 fetched, 1 no peer has it (none given or found), a peer sent bad data, or an
I/O failure, 2 bad usage.
`;

/** Errors from the node that are the user's arguments, not the network's doing. */
const USAGE_CODES = new Set(['INVALID_ADDRESS']);

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const viaDaemon = await runViaDaemon('fetch', argv, io);
    if (viaDaemon !== undefined) return viaDaemon;
    const { values, positionals } = parse(argv, {
      ...HELP_OPTION, ...DATA_DIR_OPTION, ...TRUSTED_KEY_OPTION, peer: { type: 'string', multiple: true }, force: { type: 'boolean' }, json: { type: 'boolean' },
    }, 'fetch');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`fetch: expected DIGEST|TICKET|KEY/NAME [OUTPUT], got ${positionals.length} arguments`);
    const target = parseFetchTarget(positionals[0]!);
    const daemon = daemonContext();
    const output = positionals[1];
    const peers = (values['peer'] as unknown as string[] | undefined) ?? [];
    const data = await openStore(values, { create: true });
    // Without a daemon: config.json says whether to use the DHT, and which peers to reach it through.
    const net = daemon === undefined ? await readNetworkConfig(data.layout.config) : {};
    const discover = peers.length === 0 && needsPeers(target);
    const bootstrap = discover ? [...(net.bootstrap ?? [])] : [];
    if (discover && daemon === undefined && bootstrap.length === 0) {
      throw new UsageError('fetch: nothing to ask: give --peer MULTIADDR, list "bootstrap" peers in config.json (the DHT is reached through them), or run castor daemon (LAN peers by mDNS, and the DHT)');
    }
    const trust = new TrustStore(data, { extraKeys: await trustedKeyOptions(values) });
    const node = daemon?.node ?? await (await import('../../node/index.js')).CastorNode.start(data, {
      listen: [], bootstrap, ...(net.dht !== undefined && { dht: net.dht }),
      onError: (err, context) => { if (context.startsWith('bootstrap')) io.err(`castor: fetch: ${context}: ${oneLine(err)}\n`); },
    });
    let bar: Progress | undefined;
    let result;
    let digest: Digest;
    try {
      const resolved = await resolveFetchTarget(node, target, { peers, trust, signal: daemon?.signal });
      digest = resolved.digest;
      result = await node.fetch(digest, {
        peers: resolved.peers,
        signal: daemon?.signal,
        // The fetch goes on with the other peers; the user hears who lied and about what.
        onPeerDropped: (e) => io.err(`castor: fetch: ${e.reason}; dropped that peer\n`),
        onProgress: (p) => {
          if (p.total !== undefined) (bar ??= progressBar(`fetch ${formatDigest(digest).slice(0, 12)}`, p.total)).update(p.bytes);
        },
      });
      bar?.finish();
    } catch (err: unknown) {
      if (err instanceof CastorError && USAGE_CODES.has(err.code)) throw new UsageError(`fetch: ${err.message}`);
      throw err;
    } finally {
      if (daemon === undefined) await node.stop();
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
