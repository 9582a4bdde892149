// castor daemon: run the node, and serve the CLI's control API on the data dir's socket.

import type http from 'node:http';
import path from 'node:path';
import { CommandExit, HELP_OPTION, oneLine, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DAEMON_COMMANDS, withDaemonContext } from '../daemon-client.js';
import type { CastorNode } from '../../node/index.js';
import { DHT_PROTOCOL } from '../../node/index.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, openStore } from '../store-options.js';
import { CONFIG_ANNOUNCE, CONFIG_BOOTSTRAP, CONFIG_LISTEN, NetworkConfigError, checkAddresses, mergeNetworkConfig, readNetworkConfig, type NetworkConfig } from '../../node/index.js';
import { ControlError, claimDataDir, controlJson, listenControl, readJsonBody, type ControlServer, type DaemonClaim, type Endpoint } from '../../node/index.js';
import type { DataDir } from '../../store/index.js';
import { configTrustedNixKeys, NIX_DIR, openDataDir, PathInfoStore, trustedKeyArg } from '../../store/index.js';
import { CastorError, type PublicKey, type SecretKey } from '../../verify/index.js';
import { NixCacheServer, parseHttpAddress, PeerSubstituter, readHttpConfig, UpstreamSubstituter } from '../../node/index.js';
import { openBinaryCache, parseStorePath } from '../../store/index.js';
import { loadSecretKeyFile } from './key.js';

const HELP = `Usage: castor daemon [--listen MULTIADDR]... [--announce MULTIADDR]... [--bootstrap MULTIADDR]...
                     [--no-mdns] [--no-dht] [--http HOST:PORT [--trusted-nix-key KEY]...
                     [--nix-secret-key FILE] [--nix-upstream URL]...] [--data-dir DIR]

Runs the node of the data dir: serves what the store holds to peers, dials the bootstrap
peers, finds peers on the LAN by mDNS (and dials them), takes part in castor's DHT
(announcing the roots it holds: pinned and fetched ones and the publisher keys whose
newest signed root it accepted, at start, as they come and every 12 hours), and answers
the CLI on <data dir>/daemon.sock (or 127.0.0.1 with a token in daemon.json when a
socket is not possible). While it runs, castor add, fetch, publish and share on the
same data dir go through it; id and peers ask it. One daemon per data dir; the claim of
a killed daemon is replaced. SIGINT or SIGTERM stops it cleanly. Logs one line per
event on stderr.
  --listen MULTIADDR     listen here (repeatable; default: config.json "listen", else
                         /ip4/0.0.0.0/tcp/4001, a free port if 4001 is taken)
  --announce MULTIADDR   tell peers these addresses instead (repeatable; config "announce")
  --bootstrap MULTIADDR  dial this peer on start, /p2p/<id> included (repeatable; config
                         "bootstrap"; there are no default bootstrap peers)
  --no-mdns              no mDNS: do not multicast on the LAN nor answer LAN queries
                         (config "mdns": false)
  --no-dht               no DHT: neither announce nor look up providers (config "dht": false);
                         fetches then ask connected peers only
  --http HOST:PORT       also serve a Nix binary cache over HTTP/1.1 here (e.g. 127.0.0.1:5000;
                         port 0 picks a free one; config "http"; off unless given): nix
                         substitutes from it (substituters = http://HOST:PORT) and pushes to
                         it (nix copy --to http://HOST:PORT[?compression=none|zstd]). Store
                         paths are kept as castore trees; NARs are rendered on request,
                         uncompressed. Uploads only from loopback unless config.json has
                         "httpRemoteUploads": true. The URL is logged and in castor id --json.
                         A path asked for and not held is got from peers first (connected
                         ones, then the DHT's holders of the path; /castor/path-info/1): its
                         tree verified as fetched and its NAR checked against the narHash a
                         trusted key signed before it is served; a lying peer is dropped
                         and the next asked. Held paths are announced in the DHT.
  --trusted-nix-key KEY  a path that is not content-addressed (uploaded, or from a peer or
                         an upstream) is accepted only with a signature by one of these Nix
                         keys ("name:base64" or a file; repeatable; also config.json
                         "trustedNixKeys")
  --nix-secret-key FILE  sign every narinfo served with this Nix secret key too (nix key
                         generate-secret), so clients need only trust this node's key
  --nix-upstream URL     pull-through: a narinfo asked for and not held is imported with
                         its closure from this binary cache (file:///dir, http(s)://...;
                         repeatable, tried in order; config "nixUpstreams"), each path
                         signed by a trusted Nix key (or content-addressed) and each NAR
                         checked against its NarHash, then served. A request not answered
                         within 20 s gets 404 while the import goes on.
${DATA_DIR_HELP}
A flag replaces the config.json setting of the same name. CASTOR_DAEMON_TCP=1 makes the
control API use 127.0.0.1 and a token even where a unix socket would do.
Exit status: 0 stopped by a signal, 1 could not start (another daemon runs, an address
cannot be bound), 2 bad usage.
`;

type StartNode = (data: DataDir, config: NetworkConfig) => Promise<CastorNode>;

/** CastorNode.start, loaded only when a daemon starts (libp2p is a large import). */
const startCastorNode: StartNode = async (data, config) => {
  const { CastorNode } = await import('../../node/index.js');
  return CastorNode.start(data, {
    ...(config.listen && { listen: [...config.listen] }),
    ...(config.announce && { announce: [...config.announce] }),
    ...(config.bootstrap && { bootstrap: [...config.bootstrap] }),
    // The daemon is the LAN node: mDNS on unless turned off (CastorNode's default is off).
    mdns: config.mdns ?? true,
    dht: config.dht ?? true,
    onLanPeer: (id, addresses) => logLine(`found on the LAN by mDNS: ${id}${addresses.length > 0 ? ` (${addresses.join(', ')})` : ''}`),
    onError: (err, context) => logLine(`${context}: ${oneLine(err)}`),
    onPeerDropped: (e) => logLine(`peer dropped: ${e.reason}`),
  });
};

function flagList(values: Record<string, unknown>, setting: typeof CONFIG_LISTEN | typeof CONFIG_ANNOUNCE | typeof CONFIG_BOOTSTRAP): string[] | undefined {
  const raw = values[setting];
  if (raw === undefined) return undefined;
  try {
    return checkAddresses(setting, Array.isArray(raw) ? raw : [raw], `--${setting}`);
  } catch (err: unknown) {
    if (err instanceof NetworkConfigError) throw new UsageError(oneLine(err));
    throw err;
  }
}

/** One log line on stderr: time, then the event. */
function logLine(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
};

function describeEndpoint(e: Endpoint): string {
  return 'socket' in e ? e.socket : `http://${e.host}:${e.port} (token in daemon.json)`;
}

interface Running {
  readonly node: CastorNode;
  readonly dataDir: string;
  readonly stopping: AbortSignal;
  readonly log: (line: string) => void;
  /** The binary cache's URL, when it runs. */
  readonly http?: string;
}

async function handle(run: Running, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const route = `${req.method ?? ''} ${(req.url ?? '').split('?')[0]}`;
  const node = run.node;
  switch (route) {
    case 'GET /v1/id':
      return json(res, 200, { peer_id: node.peerId, addresses: node.addresses(), pid: process.pid, data_dir: run.dataDir, ...(run.http !== undefined && { http: run.http }) });
    case 'GET /v1/peers':
      return json(res, 200, { peers: node.peers().map((p) => ({ peer_id: p.peerId, addresses: p.addresses })) });
    case 'POST /v1/connect': {
      const body = (await readJsonBody(req)) as { address?: unknown };
      if (typeof body.address !== 'string') return json(res, 400, { error: 'expected {"address": MULTIADDR}' });
      return json(res, 200, { peer_id: await node.connect(body.address) });
    }
    case 'POST /v1/run':
      return runCommand(run, req, res);
    default:
      return json(res, 404, { error: `no route ${route}` });
  }
}

/** Runs a CLI command in this process, its output sent back as NDJSON, the exit status last. */
async function runCommand(run: Running, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = (await readJsonBody(req)) as { command?: unknown; argv?: unknown };
  const command = body.command;
  const argv = body.argv;
  if (typeof command !== 'string' || !DAEMON_COMMANDS.includes(command)) return json(res, 400, { error: `the daemon runs ${DAEMON_COMMANDS.join(', ')}; not ${JSON.stringify(command)}` });
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string')) return json(res, 400, { error: 'argv must be a list of strings' });
  const abort = new AbortController();
  const onStop = (): void => abort.abort(new ControlError('the daemon is stopping'));
  run.stopping.addEventListener('abort', onStop);
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new ControlError('the client went away'));
  });
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const send = (m: Record<string, unknown>): void => {
    if (!res.destroyed) res.write(`${JSON.stringify(m)}\n`);
  };
  let errors = '';
  const io: Io = {
    out: (s) => send({ out: s }),
    err: (s) => {
      if (errors.length < 4096) errors += s;
      send({ err: s });
    },
  };
  const started = performance.now();
  let exit: number;
  try {
    const mod = (await import(`./${command}.js`)) as { run: (argv: string[], io: Io) => Promise<number> };
    exit = await withDaemonContext({ node: run.node, signal: abort.signal, log: run.log }, () => mod.run(argv as string[], io));
  } catch (err: unknown) {
    exit = reportError(err, io);
  } finally {
    run.stopping.removeEventListener('abort', onStop);
  }
  send({ exit });
  res.end();
  // The client puts --data-dir DIR first; the rest is what the user typed (paths made absolute).
  const args = (argv as string[]).slice(2).filter((a) => a !== '--');
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  const first = errors.split('\n').find((l) => l.trim() !== '');
  const lying = first !== undefined && /PEER_MISBEHAVED|sent bad data/u.test(first);
  run.log(`${lying ? 'lying peer detected: ' : ''}${[command, ...args].join(' ')}: exit ${exit} in ${secs}s${first === undefined ? '' : `: ${first.replace(/^castor: /u, '')}`}`);
}

/** Logs peers as they connect and go, from a poll of the node's peer list. */
function watchPeers(node: CastorNode, log: (line: string) => void): () => void {
  let known = new Map<string, string[]>();
  const poll = (): void => {
    const now = new Map(node.peers().map((p) => [p.peerId, p.addresses]));
    for (const [id, addrs] of now) if (!known.has(id)) log(`peer connected: ${id}${addrs.length > 0 ? ` (${addrs.join(', ')})` : ''}`);
    for (const id of known.keys()) if (!now.has(id)) log(`peer disconnected: ${id}`);
    known = now;
  };
  const timer = setInterval(poll, 500);
  timer.unref();
  return () => clearInterval(timer);
}

export async function run(argv: string[], io: Io = processIo, startNode: StartNode = startCastorNode): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      ...HELP_OPTION, ...DATA_DIR_OPTION,
      listen: { type: 'string', multiple: true }, announce: { type: 'string', multiple: true }, bootstrap: { type: 'string', multiple: true },
      'no-mdns': { type: 'boolean' }, 'no-dht': { type: 'boolean' },
      http: { type: 'string' }, 'trusted-nix-key': { type: 'string', multiple: true }, 'nix-secret-key': { type: 'string' },
      'nix-upstream': { type: 'string', multiple: true },
    }, 'daemon');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`daemon: unexpected argument ${JSON.stringify(positionals[0])}`);
    const flags: NetworkConfig = {
      ...(flagList(values, CONFIG_LISTEN) && { listen: flagList(values, CONFIG_LISTEN) }),
      ...(flagList(values, CONFIG_ANNOUNCE) && { announce: flagList(values, CONFIG_ANNOUNCE) }),
      ...(flagList(values, CONFIG_BOOTSTRAP) && { bootstrap: flagList(values, CONFIG_BOOTSTRAP) }),
      ...(values['no-mdns'] === true && { mdns: false }),
      ...(values['no-dht'] === true && { dht: false }),
    };
    const data = await openStore(values, { create: true });
    const dataDir = data.layout.root;
    const config = mergeNetworkConfig(await readNetworkConfig(data.layout.config), flags);
    const cache = await cacheSettings(values, data);
    const probe = async (e: Endpoint): Promise<boolean> => {
      try {
        await Promise.race([controlJson(e, 'GET', '/v1/id'), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref())]);
        return true;
      } catch {
        return false;
      }
    };
    const claim = await claimDataDir(dataDir, probe, logLine);
    return await serve(data, config, claim, startNode, cache);
  } catch (err: unknown) {
    return reportError(err, io);
  }
}

/** What the binary cache needs from the flags and config.json; undefined when it is off. */
interface CacheSettings {
  readonly host: string;
  readonly port: number;
  readonly remoteUploads: boolean;
  readonly trustedKeys: readonly PublicKey[];
  readonly secretKey?: SecretKey;
  /** Pull-through upstream binary cache URLs, in order. */
  readonly upstreams: readonly string[];
}

async function cacheSettings(values: Record<string, unknown>, data: DataDir): Promise<CacheSettings | undefined> {
  const file = await readHttpConfig(data.layout.config);
  const address = typeof values['http'] === 'string' ? values['http'] : file.http;
  const nixFlags = values['trusted-nix-key'] !== undefined || values['nix-secret-key'] !== undefined || values['nix-upstream'] !== undefined;
  if (address === undefined) {
    if (nixFlags) throw new UsageError('daemon: --trusted-nix-key, --nix-secret-key and --nix-upstream are for the binary cache: give --http too');
    return undefined;
  }
  let where: { host: string; port: number };
  try {
    where = parseHttpAddress(address);
  } catch (err: unknown) {
    throw new UsageError(`daemon: --http: ${oneLine(err)}`);
  }
  const trustedKeys = await configTrustedNixKeys(data.layout.config);
  for (const arg of (values['trusted-nix-key'] as string[] | undefined) ?? []) {
    try {
      trustedKeys.push(...(await trustedKeyArg(arg)));
    } catch (err: unknown) {
      if (err instanceof CastorError) throw new UsageError(`--trusted-nix-key ${arg}: ${oneLine(err)}`);
      throw err;
    }
  }
  const keyFile = values['nix-secret-key'];
  const secretKey = typeof keyFile === 'string' ? await loadSecretKeyFile(keyFile) : undefined;
  const upstreams = (values['nix-upstream'] as string[] | undefined) ?? file.nixUpstreams ?? [];
  for (const u of upstreams) {
    try {
      openBinaryCache(u);
    } catch (err: unknown) {
      if (err instanceof CastorError) throw new UsageError(`--nix-upstream ${u}: ${oneLine(err)}`);
      throw err;
    }
  }
  return { ...where, remoteUploads: file.remoteUploads ?? false, trustedKeys, ...(secretKey !== undefined && { secretKey }), upstreams };
}

async function startCache(dataDir: string, settings: CacheSettings, node: CastorNode): Promise<NixCacheServer> {
  // Paths added or imported are announced under their hash, so peers substitute them from here.
  const announce = (storePath: string): void => void node.announceStorePath(parseStorePath(storePath).hashPart);
  try {
    // Its own view of the store, written without an fsync per file: one syncfs per
    // uploaded path before it is published (an fsync for each of a NAR's thousands of
    // small files made a push 5 times slower than the disk).
    const data = await openDataDir(dataDir, { durable: 'batch' });
    const pathInfos = new PathInfoStore(data.layout);
    // Peers first (connected ones, then the DHT's providers of the path), then the upstreams.
    const peers = new PeerSubstituter({
      host: node.host, data, pathInfos, trustedKeys: settings.trustedKeys, sync: () => data.sync(), log: logLine,
      findPeers: (hashPart) => node.findStorePathProviders(hashPart),
      onImported: (p, size, peer) => {
        logLine(`nix cache: substituted ${p} (${size} bytes of NAR) from peer ${peer}`);
        announce(p);
      },
    });
    const upstreams = settings.upstreams.map((u) => new UpstreamSubstituter(openBinaryCache(u), {
      blobs: data.blobs, directories: data.directories, pathInfos, trustedKeys: settings.trustedKeys, sync: () => data.sync(),
      onImported: (p, size) => {
        logLine(`nix cache: imported ${p} (${size} bytes of NAR) from ${u}`);
        announce(p);
      },
    }));
    return await NixCacheServer.start({
      blobs: data.blobs, directories: data.directories, sync: () => data.sync(), pathInfos, stateDir: path.join(data.layout.root, NIX_DIR),
      host: settings.host, port: settings.port, remoteUploads: settings.remoteUploads, trustedKeys: settings.trustedKeys,
      ...(settings.secretKey !== undefined && { secretKey: settings.secretKey }),
      substituters: [peers, ...upstreams],
      onPathAdded: announce,
      log: logLine,
    });
  } catch (err: unknown) {
    throw new CommandExit(1, `daemon: the Nix binary cache cannot listen on ${settings.host}:${settings.port}: ${oneLine(err)}`, 'HTTP_LISTEN');
  }
}

async function serve(data: DataDir, config: NetworkConfig, claim: DaemonClaim, startNode: StartNode, cache?: CacheSettings): Promise<number> {
  const dataDir = data.layout.root;
  const stopping = new AbortController();
  let node: CastorNode;
  try {
    node = await startNode(data, config);
  } catch (err: unknown) {
    await claim.release();
    throw new CommandExit(1, `daemon: the node did not start: ${oneLine(err)}`, 'NODE_START');
  }
  let http: NixCacheServer | undefined;
  let listening: ControlServer | undefined;
  try {
    if (cache !== undefined) http = await startCache(data.layout.root, cache, node);
  } catch (err: unknown) {
    await node.stop();
    await claim.release();
    throw err;
  }
  const running: Running = { node, dataDir, stopping: stopping.signal, log: logLine, ...(http !== undefined && { http: http.url }) };
  try {
    listening = await listenControl(dataDir, (req, res) => {
      handle(running, req, res).catch((err: unknown) => {
        if (!res.headersSent) json(res, err instanceof ControlError && err.status !== undefined ? err.status : 500, { error: oneLine(err) });
        else res.destroy();
      });
    }, { tcp: process.env['CASTOR_DAEMON_TCP'] === '1', log: logLine });
    await claim.publish(listening.endpoint);
  } catch (err: unknown) {
    await listening?.close();
    await http?.close();
    await node.stop();
    await claim.release();
    throw err;
  }
  const server = listening;
  const unwatch = watchPeers(node, logLine);
  for (const a of node.addresses()) logLine(`listening on ${a}`);
  if (config.bootstrap !== undefined && config.bootstrap.length > 0) logLine(`bootstrap peers: ${config.bootstrap.join(', ')}`);
  if (http !== undefined) {
    logLine(`nix binary cache: ${http.url} (uploads from ${cache?.remoteUploads ? 'any host' : 'loopback only'}; ${cache?.trustedKeys.length ?? 0} trusted Nix keys${cache?.secretKey ? `; signing as ${cache.secretKey.name}` : ''}${cache?.upstreams.length ? `; upstreams ${cache.upstreams.join(', ')}` : ''})`);
  }
  logLine(`discovery: mDNS ${config.mdns === false ? 'off' : 'on'}, DHT ${config.dht === false ? 'off' : `on (${DHT_PROTOCOL})`}`);
  // Last, so a script that waits for this line finds the daemon ready.
  logLine(`started: peer id ${node.peerId}, pid ${process.pid}, data dir ${dataDir}, control ${describeEndpoint(server.endpoint)}`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      // A second signal while stopping: stop now.
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  logLine(`stopping (${signal})`);
  stopping.abort();
  unwatch();
  let status = 0;
  const steps: [string, () => Promise<void>][] = [['control API', () => server.close()], ['Nix binary cache', async () => http?.close()], ['node', () => node.stop()], ['claim', () => claim.release()]];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (err: unknown) {
      logLine(`stopping the ${what} failed: ${oneLine(err)}`);
      status = 1;
    }
  }
  logLine('stopped');
  // Nothing of the daemon is left to run; a library timer must not keep the process up.
  setTimeout(() => process.exit(status), 1000).unref();
  return status;
}
