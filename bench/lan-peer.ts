// The libp2p processes of `npm run bench:lan` (bench/lan.ts runs them inside the
// virtual network's namespaces), one role each, every result one JSON line on stdout:
//
//   p2p-serve LISTEN FILE        a bare host (castor's tcp+noise+yamux stack, no castor
//                                protocol) whose one protocol streams FILE as it is;
//                                prints {address}; serves until stdin ends
//   p2p-receive ADDRESS          reads that protocol's bytes to the end and drops them;
//                                prints {bytes, seconds} (dial included)
//   range ADDRESS DIGEST SIZE RUNS DIR   1 MiB verified ranges from the middle of blob
//                                DIGEST: the first on a fresh connection (dial included),
//                                then RUNS on the warm one; prints {coldMs, warmMs[]} to
//                                the first verified byte of each

import { open } from 'node:fs/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { CastorNode, createHost, decodeAnswer, requestBlob, send, StreamInput } from '../src/node/index.js';
import { openDataDir, parseDigest } from '../src/store/index.js';

const RAW_PROTOCOL = '/castor-bench/raw/1';
const PIECE = 1 << 20;

function say(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** FILE over `stream` in 1 MiB pieces, with the backpressure castor uses. */
async function sendFile(stream: Stream, file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    for (;;) {
      const buf = new Uint8Array(PIECE);
      const { bytesRead } = await fh.read(buf, 0, PIECE, null);
      if (bytesRead === 0) break;
      await send(stream, buf.subarray(0, bytesRead));
    }
    await stream.close();
  } catch (err: unknown) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
  } finally {
    await fh.close();
  }
}

async function p2pServe(listen: string, file: string): Promise<void> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [listen], dht: false });
  await host.handle(RAW_PROTOCOL, (stream) => sendFile(stream, file));
  say({ address: host.getMultiaddrs()[0]!.toString() });
  process.stdin.on('end', () => void Promise.resolve(host.stop()).then(() => process.exit(0)));
  process.stdin.resume();
}

async function p2pReceive(address: string): Promise<void> {
  const t0 = performance.now();
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [], dht: false });
  const ma = multiaddr(address);
  const stream = await host.dialProtocol(ma, RAW_PROTOCOL);
  const input = new StreamInput(stream);
  let bytes = 0;
  for (let b = await input.next(); b !== undefined; b = await input.next()) bytes += b.length;
  const seconds = (performance.now() - t0) / 1000;
  await host.stop();
  say({ bytes, seconds });
}

async function range(address: string, hex: string, size: number, runs: number, dir: string): Promise<void> {
  const node = await CastorNode.start(await openDataDir(dir, { create: true }), { listen: [], dht: false });
  const digest = parseDigest(hex);
  const start = Math.floor(size / 2);
  const firstByte = async (t0: number, peer: Parameters<typeof requestBlob>[1]): Promise<number> => {
    const answer = await requestBlob(node.host, peer, digest, [{ start, end: start + PIECE }]);
    let first: number | undefined;
    let n = 0;
    for await (const piece of decodeAnswer(answer!)) {
      first ??= performance.now() - t0;
      n += piece.length;
    }
    if (n !== PIECE) throw new Error(`range read ${n} bytes`);
    return first!;
  };
  const t0 = performance.now();
  const peer = (await node.host.dial(multiaddr(address))).remotePeer;
  const coldMs = await firstByte(t0, peer);
  const warmMs: number[] = [];
  for (let i = 0; i < runs; i++) warmMs.push(await firstByte(performance.now(), peer));
  await node.stop();
  say({ coldMs, warmMs });
}

const [role, ...args] = process.argv.slice(2);
const roles: Record<string, () => Promise<void>> = {
  'p2p-serve': () => p2pServe(args[0]!, args[1]!),
  'p2p-receive': () => p2pReceive(args[0]!),
  range: () => range(args[0]!, args[1]!, Number(args[2]), Number(args[3]), args[4]!),
};
const run = role === undefined ? undefined : roles[role];
if (run === undefined) throw new Error(`unknown role ${String(role)}`);
run().catch((err: unknown) => {
  process.stderr.write(`lan-peer ${role}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
