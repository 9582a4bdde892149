// A castor node in a process of its own, for the two-process tests and the benchmark:
// opens the data dir given, starts a CastorNode on loopback, prints one JSON line
// {"peerId", "addresses"} on stdout, and serves until stdin closes or SIGTERM. With no
// arguments (as when `node --test` runs every file under test/) it does nothing.
// A line `served` on stdin is answered with one JSON line: the blob bytes it served
// (total and per peer), its RSS and peak RSS in KiB.
//
//   node serve-child.js DATA_DIR [LISTEN_MULTIADDR]

import { openDataDir } from '../../src/store/disk/data-dir.js';
import { createInterface } from 'node:readline';
import { CastorNode } from '../../src/node/castor-node.js';
import { servedBytes } from '../../src/node/swarm/served-bytes.js';

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
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'served') return;
    const rssKiB = Math.round(process.memoryUsage.rss() / 1024);
    process.stdout.write(`${JSON.stringify({ served: servedBytes(data).toJSON(), rssKiB, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
  });
}

const [dir, listen] = process.argv.slice(2);
if (dir !== undefined) {
  main(dir, listen ?? '/ip4/127.0.0.1/tcp/0').catch((err: unknown) => {
    process.stderr.write(`serve-child: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
