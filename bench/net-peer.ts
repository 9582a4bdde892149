// The processes of `npm run bench:net` (bench/net.ts runs them), one role each, every
// result one JSON line on stdout with the process's peak RSS:
//
//   serve DATA_DIR               a CastorNode on 127.0.0.1 serving DATA_DIR
//   serve-raw FILE               a bare host (the same tcp+noise+yamux stack) whose one
//                                protocol streams FILE as it is (no verification, no store)
//   castor ADDRESS DIGEST DIR [not-durable]  fetch DIGEST into a fresh data dir DIR with CastorNode
//                                (not-durable: the store does not fsync)
//   raw ADDRESS                  read the bare protocol's bytes to the end and drop them
//   range ADDRESS DIGEST SIZE N DIR  N timed reads of 1 MiB from the middle of blob DIGEST (after one untimed)

import { open } from 'node:fs/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { CastorNode } from '../src/node/index.js';
import { createHost } from '../src/node/index.js';
import { decodeAnswer, requestBlob } from '../src/node/index.js';
import { send, StreamInput } from '../src/node/index.js';
import { openDataDir } from '../src/store/index.js';
import { parseDigest } from '../src/store/index.js';

export const RAW_PROTOCOL = '/castor-bench/raw/1';
const PIECE = 1 << 20;

function say(result: Record<string, unknown>): void {
  // CPU time of every thread of the process (user + system): a figure that load from
  // elsewhere on the machine disturbs far less than wall time.
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...result, maxRssKiB: process.resourceUsage().maxRSS, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

/** FILE over `stream` in 1 MiB pieces, with the same backpressure castor uses. */
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

/** Reports the address, serves until stdin closes, then reports the peak RSS. */
function serveUntilStdinEnds(address: string, stop: () => Promise<void>): void {
  say({ address });
  process.stdin.on('end', () => {
    void stop().then(() => {
      say({ stopped: true });
      process.exit(0);
    });
  });
  process.stdin.resume();
}

async function serve(dir: string): Promise<void> {
  const node = await CastorNode.start(await openDataDir(dir), { listen: ['/ip4/127.0.0.1/tcp/0'] });
  serveUntilStdinEnds(node.addresses()[0]!, () => node.stop());
}

async function serveRaw(file: string): Promise<void> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] });
  await host.handle(RAW_PROTOCOL, (stream) => sendFile(stream, file));
  serveUntilStdinEnds(host.getMultiaddrs()[0]!.toString(), async () => { await host.stop(); });
}

async function castor(address: string, hex: string, dir: string, durable: boolean): Promise<void> {
  const node = await CastorNode.start(await openDataDir(dir, { create: true, durable }), { listen: [] });
  await node.connect(address);
  const t0 = performance.now();
  let first: number | undefined;
  const r = await node.fetch(parseDigest(hex), { onProgress: () => { first ??= performance.now(); } });
  const seconds = (performance.now() - t0) / 1000;
  await node.stop();
  say({ seconds, bytes: r.bytes, fetchedBytes: r.fetchedBytes, firstByteMs: first === undefined ? null : first - t0 });
}

async function raw(address: string): Promise<void> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [] });
  const ma = multiaddr(address);
  await host.dial(ma);
  const t0 = performance.now();
  const stream = await host.dialProtocol(ma, RAW_PROTOCOL);
  const input = new StreamInput(stream);
  let bytes = 0;
  for (let b = await input.next(); b !== undefined; b = await input.next()) bytes += b.length;
  const seconds = (performance.now() - t0) / 1000;
  await host.stop();
  say({ seconds, bytes });
}

async function range(address: string, hex: string, size: number, runs: number, dir: string): Promise<void> {
  const node = await CastorNode.start(await openDataDir(dir, { create: true }), { listen: [] });
  const peer = (await node.host.dial(multiaddr(address))).remotePeer;
  const digest = parseDigest(hex);
  const start = Math.floor(size / 2);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const answer = await requestBlob(node.host, peer, digest, [{ start, end: start + (1 << 20) }]);
    let n = 0;
    for await (const piece of decodeAnswer(answer!)) n += piece.length;
    if (n !== 1 << 20) throw new Error(`range read ${n} bytes`);
    return performance.now() - t0;
  };
  await once(); // warm: connection up, protocol negotiated once, code compiled
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await once());
  await node.stop();
  say({ ms });
}

const [role, ...args] = process.argv.slice(2);
const roles: Record<string, () => Promise<void>> = {
  serve: () => serve(args[0]!),
  'serve-raw': () => serveRaw(args[0]!),
  castor: () => castor(args[0]!, args[1]!, args[2]!, args[3] !== 'not-durable'),
  raw: () => raw(args[0]!),
  range: () => range(args[0]!, args[1]!, Number(args[2]), Number(args[3]), args[4]!),
};
if (role !== undefined) {
  const run = roles[role];
  if (run === undefined) throw new Error(`unknown role ${role}`);
  run().catch((err: unknown) => {
    process.stderr.write(`net-peer ${role}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
