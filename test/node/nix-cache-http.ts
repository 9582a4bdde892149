// Plain HTTP/1.1 requests to the binary cache from the tests: one request per connection,
// and raw bytes for requests node:http would not send.

import http from 'node:http';
import net from 'node:net';

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** One request to `base` (http://host:port); resolves with the whole reply. */
export function request(base: string, method: string, target: string, body?: Uint8Array | string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: target, agent: false, headers: { ...headers, ...(body !== undefined && { 'content-length': Buffer.byteLength(body) }) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `bytes` on a new connection; resolves with everything received until the server closes it. */
export function rawRequest(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const parts: Buffer[] = [];
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('close', () => resolve(Buffer.concat(parts).toString('latin1')));
    // The server may reset after its answer; what arrived before is the answer.
    socket.on('error', (err) => (parts.length > 0 ? resolve(Buffer.concat(parts).toString('latin1')) : reject(err)));
  });
}
