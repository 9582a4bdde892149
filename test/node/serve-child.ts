// A castor node in a process of its own, for the two-process tests and the benchmark:
// opens the data dir given, starts a CastorNode on loopback, prints one JSON line
// {"peerId", "addresses"} on stdout, and serves until stdin closes or SIGTERM. With no
// arguments (as when `node --test` runs every file under test/) it does nothing.
//
//   node serve-child.js DATA_DIR [LISTEN_MULTIADDR]

import { openDataDir } from '../../src/store/data-dir.js';
import { CastorNode } from '../../src/node/castor-node.js';

async function main(dir: string, listen: string): Promise<void> {
  const data = await openDataDir(dir, { create: true, durable: false });
  const node = await CastorNode.start(data, {
    listen: [listen],
    onError: (err, context) => process.stderr.write(`serve-child: ${context}: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  process.stdout.write(`${JSON.stringify({ peerId: node.peerId, addresses: node.addresses() })}\n`);
  const stop = async (): Promise<void> => {
    await node.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}

const [dir, listen] = process.argv.slice(2);
if (dir !== undefined) {
  main(dir, listen ?? '/ip4/127.0.0.1/tcp/0').catch((err: unknown) => {
    process.stderr.write(`serve-child: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
