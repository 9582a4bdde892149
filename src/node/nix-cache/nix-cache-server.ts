// The HTTP/1.1 binary cache a castor node serves to `nix` (NIX.md): nix-cache-info,
// narinfos from the PathInfo store (signed with the node's own Nix key when it has one),
// NARs rendered from castore on request, and uploads (`nix copy --to http://...`)
// ingested as they arrive. Limits (limits.ts) on headers, idle sockets, connections and
// store work at once; uploads from loopback only unless allowed; targets checked first.

import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { type BlobService, type Compression, type DirectoryService, formatNarinfo, MAX_NARINFO_BYTES, parseStorePath, type PathInfo, signPathInfo, STORE_DIR } from '../../store/index.js';
import { CastorError, type PublicKey, type SecretKey } from '../../verify/index.js';
import { acceptNarinfo } from './accept-narinfo.js';
import { NixCacheError } from './errors.js';
import {
  CACHE_PRIORITY, HEADERS_TIMEOUT, IDLE_TIMEOUT, KEEP_ALIVE_TIMEOUT, MAX_ACTIVE_TRANSFERS, MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_NAR_BYTES,
  MAX_WAITING_TRANSFERS, SUBSTITUTE_WAIT,
} from './limits.js';
import { servedNarUrl } from './nar-file-name.js';
import type { NixPathInfoSource } from './path-info-source.js';
import { PendingUploads } from './pending-uploads.js';
import { isClientGone, readSmallBody, receiveNar } from './receive-nar.js';
import { type Route, routeOf } from './routes.js';
import { sendNar } from './serve-nar.js';
import { type NixSubstituter, Substitutions } from './substituter.js';
import { TransferSlots } from './transfer-slots.js';
import { UploadNames } from './upload-names.js';
import { canServe } from './compress-nar.js';

export interface NixCacheOptions {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  readonly pathInfos: NixPathInfoSource;
  /**
   * Makes what the store was given so far durable; called before an uploaded path is
   * put, so a path is never published over blobs still in the page cache. For a store
   * opened with durable 'batch' (one syncfs per path instead of an fsync per file).
   */
  readonly sync?: () => Promise<void>;
  /** A directory for the cache's own state: which path each uploaded NAR name became (upload-names.ts). */
  readonly stateDir: string;
  /** Nix keys whose signature admits an uploaded input-addressed path (content-addressed ones need none). @default [] */
  readonly trustedKeys?: readonly PublicKey[];
  /** Where to listen. @default 127.0.0.1 */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** Add this key's signature to every narinfo served. */
  readonly secretKey?: SecretKey;
  /** Accept uploads (PUT) from any host, not only loopback. @default false */
  readonly remoteUploads?: boolean;
  /** Called with one line per upload accepted or refused, and per failure serving. */
  readonly log?: (line: string) => void;
  /** @default MAX_NAR_BYTES */
  readonly maxNarBytes?: number;
  /** @default PENDING_UPLOAD_TTL */
  readonly pendingTtl?: number;
  /** Milliseconds for a request's headers to arrive. @default HEADERS_TIMEOUT */
  readonly headersTimeout?: number;
  /** Milliseconds a socket may stay silent both ways. @default IDLE_TIMEOUT */
  readonly idleTimeout?: number;
  /** Where a narinfo asked for and not held is got from (peers, upstream caches), in order. @default [] */
  readonly substituters?: readonly NixSubstituter[];
  /** Milliseconds a narinfo request waits for a substitution before its 404 (it goes on). @default SUBSTITUTE_WAIT */
  readonly substituteWait?: number;
  /** Called with each path an upload made present (the daemon announces it to peers). */
  readonly onPathAdded?: (storePath: string) => void;
}

const TEXT = 'text/plain; charset=utf-8';

/** A PathInfo with a tree to render. */
type Servable = PathInfo & { readonly node: NonNullable<PathInfo['node']> };

export class NixCacheServer {
  readonly #server: http.Server;
  readonly #pending: PendingUploads;
  readonly #names: UploadNames;
  readonly #slots = new TransferSlots(MAX_ACTIVE_TRANSFERS, MAX_WAITING_TRANSFERS);
  readonly #substitutions: Substitutions;
  #url = '';

  private constructor(private readonly options: NixCacheOptions) {
    this.#pending = new PendingUploads(options.pendingTtl);
    this.#names = new UploadNames(path.join(options.stateDir, 'nar-names'));
    this.#substitutions = new Substitutions(options.substituters ?? [], options.log);
    const headersTimeout = options.headersTimeout ?? HEADERS_TIMEOUT;
    this.#server = http.createServer({
      maxHeaderSize: MAX_HEADER_BYTES, headersTimeout, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
      // How often node:http looks for requests past headersTimeout (its default, 30 s, would triple it).
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
    });
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.setTimeout(options.idleTimeout ?? IDLE_TIMEOUT, (socket) => socket.destroy());
    this.#server.on('request', (req, res) => this.#serve(req, res));
    this.#server.on('checkContinue', (req, res) => this.#serve(req, res, true));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? ['431 Request Header Fields Too Large', `headers larger than ${MAX_HEADER_BYTES} bytes`]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? ['408 Request Timeout', `headers not received within ${headersTimeout / 1000} s`]
          : ['400 Bad Request', `malformed HTTP request (${err.code ?? 'parse error'})`];
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${TEXT}\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\nConnection: close\r\n\r\n${text}\n`);
    });
  }

  /** Starts listening; resolves once bound. */
  static async start(options: NixCacheOptions): Promise<NixCacheServer> {
    const s = new NixCacheServer(options);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    const a = s.#server.address() as AddressInfo;
    s.#url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return s;
  }

  /** `http://host:port`, what `nix` is given as the cache (substituters, nix copy --to). */
  get url(): string {
    return this.#url;
  }

  /** Stops accepting, ends idle connections, and waits for open requests to end. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    // Requests still running after a grace period (a stalled client) are cut.
    const timer = setTimeout(() => this.#server.closeAllConnections(), 2000);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue = false): void {
    this.#handle(req, res, expectsContinue).catch((err: unknown) => this.#fail(req, res, err));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): Promise<void> {
    const route = routeOf(req.url);
    const method = req.method ?? '';
    if (method === 'PUT') {
      if (!this.options.remoteUploads && !isLoopback(req.socket.remoteAddress)) {
        throw new NixCacheError(403, 'FORBIDDEN', `uploads are accepted from loopback only, not ${req.socket.remoteAddress ?? 'an unknown address'}`);
      }
      const declared = Number(req.headers['content-length'] ?? NaN);
      const cap = route.kind === 'narinfo' ? MAX_NARINFO_BYTES : this.options.maxNarBytes ?? MAX_NAR_BYTES;
      if (declared > cap) throw new NixCacheError(413, 'TOO_LARGE', `Content-Length ${declared} is over the ${cap}-byte cap`, declared);
      if (route.kind === 'cache-info') throw new NixCacheError(405, 'METHOD_NOT_ALLOWED', 'nix-cache-info is the node\'s own; it cannot be replaced');
      if (route.kind === 'nar' && route.file.kind === 'served') throw new NixCacheError(400, 'BAD_PATH', 'upload NARs to /nar/<FileHash>.nar[.xz|.zst|.bz2|.br]', route.url);
      // Checked everything the headers tell: now ask for the body.
      if (expectsContinue) res.writeContinue();
      return this.#put(route, req, res);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD, PUT');
      throw new NixCacheError(405, 'METHOD_NOT_ALLOWED', `method ${method.slice(0, 16)} not allowed`);
    }
    const head = method === 'HEAD';
    switch (route.kind) {
      case 'cache-info':
        return reply(res, 200, 'text/x-nix-cache-info', `StoreDir: ${STORE_DIR}\nWantMassQuery: 1\nPriority: ${CACHE_PRIORITY}\n`, head);
      case 'narinfo': {
        const info = await this.#servable(route.hashPart) ?? await this.#substitute(route.hashPart);
        if (info === undefined) throw notHere(route.hashPart);
        return reply(res, 200, 'text/x-nix-narinfo', this.#narinfoText(info), head);
      }
      case 'nar':
        return this.#getNar(route, req, res, head);
    }
  }

  /** The PathInfo of `hashPart` if it has a tree to render. */
  async #servable(hashPart: string): Promise<Servable | undefined> {
    const info = await this.options.pathInfos.get(hashPart);
    return info?.node === undefined ? undefined : info as Servable;
  }

  /** A path not held, got from the substituters if that is done within substituteWait; else it goes on and undefined. */
  async #substitute(hashPart: string): Promise<Servable | undefined> {
    if (!this.#substitutions.enabled) return undefined;
    const done = await this.#substitutions.wait(hashPart, this.options.substituteWait ?? SUBSTITUTE_WAIT);
    return done ? this.#servable(hashPart) : undefined;
  }

  /** Substitutions still running (tests wait for them). */
  get substituting(): number {
    return this.#substitutions.running;
  }

  #narinfoText(info: PathInfo): string {
    const signed = this.options.secretKey === undefined ? info : signPathInfo(info, this.options.secretKey);
    // Served uncompressed: the file is the NAR, so FileHash and FileSize are NarHash and NarSize.
    return formatNarinfo({ ...signed, url: servedNarUrl(parseStorePath(info.storePath).hashPart, info.narHash), compression: 'none', fileHash: info.narHash, fileSize: info.narSize });
  }

  async #getNar(route: Extract<Route, { kind: 'nar' }>, req: http.IncomingMessage, res: http.ServerResponse, head: boolean): Promise<void> {
    const file = route.file;
    const missing = (): NixCacheError => new NixCacheError(404, 'NOT_FOUND', `${route.url} is not here`, route.url);
    let info: Servable | undefined;
    let compression: Compression = 'none';
    if (file.kind === 'uploaded') {
      // Nix asks with HEAD whether to upload: an upload waiting for its narinfo is here.
      const nar = this.#pending.get(route.url);
      if (nar !== undefined && head) {
        res.writeHead(200, { 'Content-Type': 'application/x-nix-nar', 'Content-Length': nar.fileSize });
        return void res.end();
      }
      // A name an upload became a path under: its uploader's Nix asks for it by that name.
      const hashPart = await this.#names.lookup(route.url.slice('nar/'.length));
      info = hashPart === undefined ? undefined : await this.#servable(hashPart);
      if (info === undefined) throw missing();
      compression = file.compression;
      if (!canServe(compression)) throw new NixCacheError(404, 'NOT_FOUND', `${route.url}: castor serves NARs uncompressed, xz, zstd or br, not ${compression}`, route.url);
    } else {
      info = await this.#servable(file.hashPart);
      if (info === undefined || !Buffer.from(info.narHash).equals(file.narHash)) throw missing();
    }
    // A compressed size is known only once sent: those go chunked.
    const headers = { 'Content-Type': 'application/x-nix-nar', ...(compression === 'none' && { 'Content-Length': info.narSize }) };
    if (head) {
      res.writeHead(200, headers);
      return void res.end();
    }
    if (this.#slots.full) throw new NixCacheError(503, 'BUSY', 'too many transfers at once; retry');
    const gone = new AbortController();
    res.once('close', () => gone.abort(new CastorError('CLIENT_GONE', 'the client went away')));
    const release = await this.#slots.acquire(gone.signal);
    try {
      res.writeHead(200, headers);
      await sendNar(res, { storePath: info.storePath, node: info.node, narHash: info.narHash, narSize: info.narSize }, compression, this.options);
    } finally {
      release();
    }
  }

  async #put(route: Route, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const gone = new AbortController();
    res.once('close', () => gone.abort(new CastorError('CLIENT_GONE', 'the client went away')));
    // Uploads wait for a slot however many wait: refusing a valid upload with a 5xx hangs Nix 2.8.
    const release = await this.#slots.acquire(gone.signal);
    try {
      if (route.kind === 'narinfo') {
        const body = await readSmallBody(req, MAX_NARINFO_BYTES);
        const info = await acceptNarinfo(route.hashPart, body, {
          pending: this.#pending, names: this.#names, sync: this.options.sync, pathInfos: this.options.pathInfos, trustedKeys: this.options.trustedKeys ?? [], store: this.options,
        });
        this.options.log?.(`nix cache: added ${info.storePath} (${info.narSize} bytes of NAR)`);
        this.options.onPathAdded?.(info.storePath);
        return reply(res, 200, TEXT, '', false);
      }
      if (route.kind !== 'nar' || route.file.kind !== 'uploaded') throw new NixCacheError(400, 'BAD_PATH', 'not an upload target');
      const nar = await receiveNar(req, {
        store: this.options, fileHash: route.file.fileHash, compression: route.file.compression, maxBytes: this.options.maxNarBytes ?? MAX_NAR_BYTES,
      });
      this.#pending.set(route.url, nar);
      return reply(res, 200, TEXT, '', false);
    } finally {
      release();
    }
  }

  #fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    if (isClientGone(err) || res.destroyed) return void res.destroy();
    const known = err instanceof NixCacheError;
    // An upload is never answered 5xx (Nix 2.8 hangs); other requests may be.
    const status = known ? err.status : req.method === 'PUT' ? 400 : 500;
    const message = err instanceof Error ? err.message : String(err);
    if (!known || (req.method === 'PUT' && status !== 404)) this.options.log?.(`nix cache: ${req.method ?? '?'} ${(req.url ?? '').slice(0, 128)}: ${status} ${message}`);
    if (res.headersSent) return void res.destroy();
    // A refused upload's body may still be coming: close rather than read it all.
    if (req.method === 'PUT' && !req.complete) res.setHeader('Connection', 'close');
    reply(res, status, TEXT, `${message}\n`, req.method === 'HEAD');
  }
}

function reply(res: http.ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function notHere(hashPart: string): NixCacheError {
  return new NixCacheError(404, 'NOT_FOUND', `no store path with hash ${hashPart} here`, hashPart);
}

/** 127.0.0.0/8, ::1, and IPv4 loopback as an IPv6-mapped address. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/u.test(v4);
}
