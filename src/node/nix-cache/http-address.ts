// `--http ADDR` and config.json "http": `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback).

import { isIP } from 'node:net';
import { CastorError } from '../../verify/index.js';

/** An address the cache cannot listen on as written. */
export class InvalidHttpAddressError extends CastorError {
  constructor(text: unknown, detail: string) {
    super('INVALID_HTTP_ADDRESS', `HTTP address ${JSON.stringify(text)}: ${detail}`, text);
  }
}

/** Host and port of `text`; port 0 picks a free one. An empty host (`:5000`) is 127.0.0.1. */
export function parseHttpAddress(text: unknown): { host: string; port: number } {
  if (typeof text !== 'string') throw new InvalidHttpAddressError(text, 'expected HOST:PORT');
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/u.exec(text);
  if (m === null) throw new InvalidHttpAddressError(text, 'expected HOST:PORT, e.g. 127.0.0.1:5000 or [::1]:5000');
  const host = m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]!);
  const port = Number(m[3]);
  if (port > 65535) throw new InvalidHttpAddressError(text, 'port above 65535');
  if (m[1] !== undefined && isIP(host) !== 6) throw new InvalidHttpAddressError(text, 'not an IPv6 address in brackets');
  if (m[2] !== undefined && host !== 'localhost' && isIP(host) !== 4) throw new InvalidHttpAddressError(text, 'host must be an IPv4 address, [IPv6] or localhost');
  return { host, port };
}
