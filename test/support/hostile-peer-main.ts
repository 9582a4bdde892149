// Runs hostile peers (hostile-peer.ts) in a process of their own, one libp2p node per mode,
// all serving the same data dir. Prints one JSON line per node on stdout,
// {"mode", "peerId", "addresses"}, in the order the modes were given; a line `requests`
// on stdin is answered with one JSON line {mode: {protocol: count}}. Stops on SIGTERM,
// and when stdin closes if it is a pipe (a test's child; a shell's background job has
// /dev/null there). With no arguments (as when `node --test` runs every file) it does
// nothing.
//
//   node hostile-peer-main.js --data-dir DIR --mode MODE [--mode MODE]... [--decoy HEX] [--listen MULTIADDR]

import '../../src/node/polyfill.js';
import { fstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { openDataDir, parseDigest, type Digest } from '../../src/store/index.js';
import { HOSTILE_MODES, HostilePeer, isHostileMode, type HostileMode } from './hostile-peer.js';

function usage(detail: string): never {
  process.stderr.write(`hostile-peer: ${detail}\nusage: hostile-peer-main.js --data-dir DIR --mode MODE... [--decoy HEX] [--listen MULTIADDR]\nmodes: ${Object.keys(HOSTILE_MODES).join(', ')}\n`);
  process.exit(2);
}

async function main(args: string[]): Promise<void> {
  let dir: string | undefined;
  let decoy: Digest | undefined;
  let listen = '/ip4/127.0.0.1/tcp/0';
  const modes: HostileMode[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === '--data-dir') dir = value;
    else if (flag === '--decoy') decoy = parseDigest(value);
    else if (flag === '--listen') listen = value;
    else if (flag === '--mode') {
      if (!isHostileMode(value)) usage(`unknown mode ${value}`);
      modes.push(value);
    } else usage(`unknown argument ${flag}`);
  }
  if (dir === undefined || modes.length === 0) usage('--data-dir and at least one --mode are needed');
  const data = await openDataDir(dir, { create: false, durable: false });
  const peers: HostilePeer[] = [];
  for (const mode of modes) {
    const peer = await HostilePeer.start({ data, mode, decoy, listen: [listen] });
    peers.push(peer);
    process.stdout.write(`${JSON.stringify({ mode, peerId: peer.peerId, addresses: peer.addresses() })}\n`);
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(peers.map((p) => p.stop()));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  const stdin = fstatSync(0);
  if (!stdin.isFIFO() && !stdin.isSocket()) return;
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'requests') return;
    process.stdout.write(`${JSON.stringify(Object.fromEntries(peers.map((p) => [p.mode, Object.fromEntries(p.requests)])))}\n`);
  });
}

const args = process.argv.slice(2);
if (args.length > 0) {
  main(args).catch((err: unknown) => {
    process.stderr.write(`hostile-peer: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
