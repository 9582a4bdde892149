// Plain TCP, the reference a shaped link is measured against (run inside a namespace):
//
//   serve HOST PORT SOURCE      listen; send SOURCE to each connection, then close it.
//                               Prints {"listening": PORT}; exits when stdin ends.
//                               SOURCE: random:BYTES (a seeded stream, so a receiver can check it),
//                               file:PATH, or tar:DIR (`tar -c` of DIR, streamed)
//   receive HOST PORT SINK      connect, read to the end. Prints {"bytes","seconds",
//                               "sha256"?}. SINK: hash (sha256 of the bytes), discard,
//                               or untar:DIR (piped into `tar -x -C DIR`)
//
// Seconds run from the connect call to the last byte (and tar's exit).

import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';

const PIECE = 1 << 20;

const ZEROS = Buffer.alloc(PIECE);

/** A deterministic byte stream (AES-CTR of zeros under a fixed key): fast, the same everywhere. */
export function* seededStream(bytes: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  for (let left = bytes; left > 0; left -= PIECE) yield cipher.update(ZEROS.subarray(0, Math.min(PIECE, left)));
}

/** sha256 of the first `bytes` of the seeded stream. */
export function seededSha256(bytes: number): string {
  const h = createHash('sha256');
  for (const piece of seededStream(bytes)) h.update(piece);
  return h.digest('hex');
}

async function sendRandom(socket: net.Socket, bytes: number): Promise<void> {
  for (const piece of seededStream(bytes)) {
    if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
}

function serve(host: string, port: number, source: string): void {
  const [kind, arg] = [source.slice(0, source.indexOf(':')), source.slice(source.indexOf(':') + 1)];
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    if (kind === 'random') void sendRandom(socket, Number(arg)).catch(() => socket.destroy());
    else if (kind === 'file') void pipeline(createReadStream(arg, { highWaterMark: PIECE }), socket).catch(() => socket.destroy());
    else if (kind === 'tar') {
      const tar = spawn('tar', ['-c', '-f', '-', '-C', arg, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      void pipeline(tar.stdout, socket).catch(() => socket.destroy());
    } else throw new Error(`unknown source ${source}`);
  });
  server.listen(port, host, () => {
    process.stdout.write(`${JSON.stringify({ listening: (server.address() as net.AddressInfo).port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function receive(host: string, port: number, sink: string): Promise<void> {
  const t0 = performance.now();
  const socket = net.connect(port, host);
  let bytes = 0;
  const hash = sink === 'hash' ? createHash('sha256') : undefined;
  if (sink.startsWith('untar:')) {
    const tar = spawn('tar', ['-x', '-f', '-', '-C', sink.slice('untar:'.length)], { stdio: ['pipe', 'inherit', 'inherit'] });
    socket.on('data', (b: Buffer) => { bytes += b.length; });
    const exited = new Promise<number | null>((resolve) => tar.once('exit', resolve));
    await pipeline(socket, tar.stdin);
    const code = await exited;
    if (code !== 0) throw new Error(`tar -x exited ${code}`);
  } else {
    for await (const b of socket as AsyncIterable<Buffer>) {
      bytes += b.length;
      hash?.update(b);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ bytes, seconds, ...(hash && { sha256: hash.digest('hex') }) })}\n`);
}

const [role, host, port, what] = process.argv.slice(2);
if (role === 'serve') serve(host!, Number(port), what!);
else if (role === 'receive') {
  receive(host!, Number(port), what!).catch((err: unknown) => {
    process.stderr.write(`tcp-transfer receive: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
