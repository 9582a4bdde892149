// A virtual network of shaped links for tests and benchmarks: a bridge in a network
// namespace of its own and one namespace per node joined to it by a veth pair, each
// node's upload and download rate set with tc tbf, and delay and loss on what a node
// receives (netem where the kernel has it, else a delay line on an NFQUEUE). Addresses
// 10.77.x.y/16 exist only inside these namespaces; nothing is created in the caller's
// namespace, and close() (or the exit hooks, after a failure or SIGINT/SIGTERM) removes
// every namespace this harness made, with the links and processes in them.
//
// Needs root, iproute2 (ip, tc), and for delay or loss without netem, iptables and python3.

import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The delay line's source: beside this file in the source tree (dist holds only .js). */
const DELAY_LINE = [path.join(HERE, 'netns-delay.py'), path.resolve(HERE, '../../../test/support/netns-delay.py')].find((p) => existsSync(p));
/** The node side of every link, inside the node's namespace. */
export const NODE_IFACE = 'eth0';
const BRIDGE = 'br0';
/** HZ of common kernels is 250 to 1000: a tbf burst must cover one tick at the rate. */
const TICK_S = 1 / 250;
/** Above the largest GSO packet (64 KiB), so tbf never splits one. */
const MIN_BURST_BYTES = 128 << 10;
/** tbf queue: what waits beyond the burst, in time at the rate. */
const TBF_LATENCY_MS = 50;
const NFQUEUE_NUM = 0;

export class NetnsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetnsError';
    this.code = code;
  }
}

/** The shape of one node's link to the bridge. An absent rate is unshaped. */
export interface LinkShape {
  /** Node to bridge, Mbit/s. */
  readonly upMbit?: number;
  /** Bridge to node, Mbit/s. */
  readonly downMbit?: number;
  /** One-way delay added to every packet this node receives, ms (a round trip between two nodes is the sum of theirs). */
  readonly delayMs?: number;
  /** Share of packets this node receives that are dropped, percent. */
  readonly lossPct?: number;
}

export interface NodeSpec extends LinkShape {
  /** Letters, digits and '-'; unique in the network. */
  readonly name: string;
}

export interface NetNode {
  readonly name: string;
  /** Its network namespace (for `ip netns exec`). */
  readonly ns: string;
  /** Its IPv4 address on the bridge. */
  readonly address: string;
  /** Its port on the bridge, inside the bridge's namespace. */
  readonly port: string;
  shape: LinkShape;
}

/** How delay and loss are made: netem, or the NFQUEUE delay line. */
export type DelayMethod = 'netem' | 'delay-line';

let networks = 0;
const open = new Set<VirtualNetwork>();
let hooked = false;

/** Removes every open network synchronously: for exit and signal hooks. */
function closeAllSync(): void {
  for (const n of open) n.closeSync();
}

function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', closeAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const on = (): void => {
      closeAllSync();
      process.off(sig, on);
      // The default action, now that nothing of ours is left behind, unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, on);
  }
}

async function cmd(file: string, args: string[]): Promise<string> {
  try {
    return (await run(file, args, { encoding: 'utf8' })).stdout;
  } catch (err: unknown) {
    const e = err as { stderr?: string; message?: string };
    throw new NetnsError('NETNS_COMMAND', `${file} ${args.join(' ')}: ${(e.stderr ?? e.message ?? String(err)).trim()}`, { cause: err });
  }
}

/** Why network namespaces cannot be made here (not root, no iproute2, not permitted); undefined when they can. */
export function namespacesUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const name = `cnet${process.pid}probe`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.error !== undefined) return `ip cannot run (iproute2 missing?): ${add.error.message}`;
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
  try {
    const veth = spawnSync('ip', ['-n', name, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0'], { encoding: 'utf8' });
    if (veth.status !== 0) return `veth pairs cannot be made: ${veth.stderr.trim()}`;
    const tc = spawnSync('tc', ['-n', name, 'qdisc', 'add', 'dev', 'a0', 'root', 'tbf', 'rate', '1gbit', 'burst', '512kb', 'latency', '50ms'], { encoding: 'utf8' });
    if (tc.error !== undefined) return `tc cannot run: ${tc.error.message}`;
    if (tc.status !== 0) return `tc tbf cannot be used: ${tc.stderr.trim()}`;
    return undefined;
  } finally {
    spawnSync('ip', ['netns', 'del', name]);
  }
}

export function canMakeNamespaces(): boolean {
  return namespacesUnavailable() === undefined;
}

let delayMethodCache: DelayMethod | string | undefined;

/** How this machine adds delay and loss, or why it cannot (a string). Needs namespaces. */
export function delayMethod(): DelayMethod | string {
  if (delayMethodCache !== undefined) return delayMethodCache;
  const name = `cnet${process.pid}probe`;
  spawnSync('ip', ['netns', 'add', name]);
  try {
    spawnSync('ip', ['-n', name, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0']);
    const netem = spawnSync('tc', ['-n', name, 'qdisc', 'add', 'dev', 'a0', 'root', 'netem', 'delay', '1ms'], { encoding: 'utf8' });
    if (netem.status === 0) return (delayMethodCache = 'netem');
    if (DELAY_LINE === undefined) return (delayMethodCache = 'no netem in this kernel, and the delay line netns-delay.py is not found');
    const py = spawnSync('python3', ['-c', 'import socket; socket.AF_NETLINK'], { encoding: 'utf8' });
    if (py.status !== 0) return (delayMethodCache = `no netem in this kernel, and python3 (for the delay line) cannot run: ${py.error?.message ?? py.stderr.trim()}`);
    const ipt = spawnSync('ip', ['netns', 'exec', name, 'iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', 'a0', '-j', 'NFQUEUE', '--queue-num', '0'], { encoding: 'utf8' });
    if (ipt.status !== 0) return (delayMethodCache = `no netem in this kernel, and iptables NFQUEUE (for the delay line) cannot be used: ${ipt.error?.message ?? ipt.stderr.trim()}`);
    return (delayMethodCache = 'delay-line');
  } finally {
    spawnSync('ip', ['netns', 'del', name]);
  }
}

function burstBytes(mbit: number): number {
  return Math.max(MIN_BURST_BYTES, Math.ceil((mbit * 1e6 / 8) * TICK_S));
}

function tbfArgs(mbit: number): string[] {
  return ['tbf', 'rate', `${mbit}mbit`, 'burst', String(burstBytes(mbit)), 'latency', `${TBF_LATENCY_MS}ms`];
}

/** A network of nodes on one bridge; see the file comment. */
export class VirtualNetwork {
  readonly prefix: string;
  readonly bridgeNs: string;
  readonly nodes = new Map<string, NetNode>();
  readonly delayMethod: DelayMethod | undefined;
  /** Every namespace made, in order: only these are ever removed. */
  readonly #made: string[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #delayLines = new Map<string, ChildProcess>();
  #closed = false;

  private constructor(prefix: string, delay: DelayMethod | undefined) {
    this.prefix = prefix;
    this.bridgeNs = `${prefix}-br`;
    this.delayMethod = delay;
  }

  /** Makes the bridge and one shaped node per spec. On any failure removes what it made and throws. */
  static async create(specs: NodeSpec[]): Promise<VirtualNetwork> {
    const why = namespacesUnavailable();
    if (why !== undefined) throw new NetnsError('NETNS_UNAVAILABLE', why);
    const needsDelay = specs.some((s) => (s.delayMs ?? 0) > 0 || (s.lossPct ?? 0) > 0);
    let method: DelayMethod | undefined;
    if (needsDelay) {
      const m = delayMethod();
      if (m !== 'netem' && m !== 'delay-line') throw new NetnsError('NETNS_NO_DELAY', m);
      method = m;
    }
    const names = new Set<string>();
    for (const s of specs) {
      if (!/^[a-z0-9-]{1,24}$/iu.test(s.name) || names.has(s.name)) throw new NetnsError('NETNS_BAD_NAME', `bad or repeated node name ${JSON.stringify(s.name)}`);
      names.add(s.name);
    }
    if (specs.length > 250 * 250) throw new NetnsError('NETNS_TOO_MANY', `${specs.length} nodes`);
    const net = new VirtualNetwork(`cnet${process.pid}n${networks++}`, method);
    installExitHooks();
    open.add(net);
    try {
      await net.#addNs(net.bridgeNs);
      await cmd('ip', ['-n', net.bridgeNs, 'link', 'add', BRIDGE, 'type', 'bridge', 'mcast_snooping', '0']);
      await cmd('ip', ['-n', net.bridgeNs, 'link', 'set', BRIDGE, 'up']);
      for (const [i, s] of specs.entries()) await net.#addNode(s, i);
      return net;
    } catch (err: unknown) {
      await net.close();
      throw err;
    }
  }

  async #addNs(ns: string): Promise<void> {
    await cmd('ip', ['netns', 'add', ns]);
    this.#made.push(ns);
    await cmd('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  async #addNode(spec: NodeSpec, i: number): Promise<void> {
    const ns = `${this.prefix}-${spec.name}`;
    const port = `p${i}`;
    const address = `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    await this.#addNs(ns);
    // Both ends are made where they live: nothing ever appears in the caller's namespace.
    await cmd('ip', ['-n', this.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', NODE_IFACE, 'netns', ns]);
    await cmd('ip', ['-n', this.bridgeNs, 'link', 'set', port, 'master', BRIDGE]);
    await cmd('ip', ['-n', this.bridgeNs, 'link', 'set', port, 'up']);
    await cmd('ip', ['-n', ns, 'addr', 'add', `${address}/16`, 'dev', NODE_IFACE]);
    await cmd('ip', ['-n', ns, 'link', 'set', NODE_IFACE, 'up']);
    // Multicast (mDNS) goes out on the bridge; there is no other route out of here.
    await cmd('ip', ['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', NODE_IFACE]);
    const node: NetNode = { name: spec.name, ns, address, port, shape: {} };
    this.nodes.set(spec.name, node);
    await this.shape(spec.name, spec);
  }

  node(name: string): NetNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new NetnsError('NETNS_NO_NODE', `no node ${JSON.stringify(name)}`);
    return n;
  }

  /** Sets (or replaces) a node's rates, delay and loss. */
  async shape(name: string, shape: LinkShape): Promise<void> {
    const n = this.node(name);
    const delay = (shape.delayMs ?? 0) > 0 || (shape.lossPct ?? 0) > 0;
    if (delay && this.delayMethod === undefined) throw new NetnsError('NETNS_NO_DELAY', 'delay or loss on a network made without any: give it at create()');
    await this.#qdiscs(n, shape, delay);
    await this.#stopDelayLine(n);
    if (delay && this.delayMethod === 'delay-line') await this.#startDelayLine(n, shape.delayMs ?? 0, shape.lossPct ?? 0);
    n.shape = { ...shape };
  }

  async #qdiscs(n: NetNode, shape: LinkShape, delay: boolean): Promise<void> {
    await this.#clearQdisc(n.ns, NODE_IFACE);
    await this.#clearQdisc(this.bridgeNs, n.port);
    if (shape.upMbit !== undefined) await cmd('tc', ['-n', n.ns, 'qdisc', 'add', 'dev', NODE_IFACE, 'root', 'handle', '1:', ...tbfArgs(shape.upMbit)]);
    const netem = ['netem', ...(shape.delayMs ? ['delay', `${shape.delayMs}ms`] : []), ...(shape.lossPct ? ['loss', `${shape.lossPct}%`] : []), 'limit', '100000'];
    // What the node receives: rate on the bridge port's egress, then the delay (a link's
    // serialisation, then its propagation).
    if (shape.downMbit !== undefined) {
      await cmd('tc', ['-n', this.bridgeNs, 'qdisc', 'add', 'dev', n.port, 'root', 'handle', '1:', ...tbfArgs(shape.downMbit)]);
      if (delay && this.delayMethod === 'netem') await cmd('tc', ['-n', this.bridgeNs, 'qdisc', 'add', 'dev', n.port, 'parent', '1:1', 'handle', '10:', ...netem]);
    } else if (delay && this.delayMethod === 'netem') {
      await cmd('tc', ['-n', this.bridgeNs, 'qdisc', 'add', 'dev', n.port, 'root', 'handle', '1:', ...netem]);
    }
  }

  async #clearQdisc(ns: string, dev: string): Promise<void> {
    // "No qdisc to delete" is the only failure expected here.
    await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined);
  }

  async #startDelayLine(n: NetNode, delayMs: number, lossPct: number): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', n.ns, 'python3', DELAY_LINE!, String(NFQUEUE_NUM), String(delayMs), String(lossPct)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    this.#delayLines.set(n.name, child);
    const ready = await new Promise<boolean>((resolve) => {
      createInterface({ input: child.stdout! }).once('line', (l) => resolve(l === 'ready'));
      child.once('exit', () => resolve(false));
    });
    if (!ready) throw new NetnsError('NETNS_DELAY_LINE', `the delay line of ${n.name} did not start: ${err.trim()}`);
    await cmd('ip', ['netns', 'exec', n.ns, 'iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', NODE_IFACE, '-j', 'NFQUEUE', '--queue-num', String(NFQUEUE_NUM)]);
  }

  async #stopDelayLine(n: NetNode): Promise<void> {
    const child = this.#delayLines.get(n.name);
    if (child === undefined) return;
    await cmd('ip', ['netns', 'exec', n.ns, 'iptables', '-t', 'mangle', '-F', 'PREROUTING']);
    this.#delayLines.delete(n.name);
    await stopChild(child);
  }

  /** The link drops to zero both ways (every packet dropped) until restore(). */
  async cut(name: string): Promise<void> {
    const n = this.node(name);
    await cmd('tc', ['-n', n.ns, 'qdisc', 'replace', 'dev', NODE_IFACE, 'root', 'pfifo', 'limit', '0']);
    await cmd('tc', ['-n', this.bridgeNs, 'qdisc', 'replace', 'dev', n.port, 'root', 'pfifo', 'limit', '0']);
  }

  /** The link as shaped before cut(). */
  async restore(name: string): Promise<void> {
    const n = this.node(name);
    // The delay line keeps running through a cut: only the qdiscs change.
    await this.#qdiscs(n, n.shape, (n.shape.delayMs ?? 0) > 0 || (n.shape.lossPct ?? 0) > 0);
  }

  /** The qdiscs on both ends of a node's link, as `tc qdisc show` prints them. */
  async qdiscs(name: string): Promise<{ node: string; bridge: string }> {
    const n = this.node(name);
    return {
      node: await cmd('tc', ['-n', n.ns, 'qdisc', 'show', 'dev', NODE_IFACE]),
      bridge: await cmd('tc', ['-n', this.bridgeNs, 'qdisc', 'show', 'dev', n.port]),
    };
  }

  /** Bytes the node has sent and received on its link so far. */
  async linkBytes(name: string): Promise<{ tx: number; rx: number }> {
    const n = this.node(name);
    const out = JSON.parse(await cmd('ip', ['-n', n.ns, '-s', '-j', 'link', 'show', 'dev', NODE_IFACE])) as { stats64: { tx: { bytes: number }; rx: { bytes: number } } }[];
    return { tx: out[0]!.stats64.tx.bytes, rx: out[0]!.stats64.rx.bytes };
  }

  /** Spawns `command args` inside the node's namespace; the process is ended on close(). */
  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    if (this.#closed) throw new NetnsError('NETNS_CLOSED', 'the network is closed');
    // ip netns exec execs the command: the child's pid is the command's.
    const child = spawn('ip', ['netns', 'exec', this.node(name).ns, command, ...args], options);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Runs `command args` in the node's namespace to its end. */
  exec(name: string, command: string, args: string[], options: SpawnOptions = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    const child = this.spawn(name, command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  }

  /** Ends every process started here, removes every namespace made (with their links). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#children, ...this.#delayLines.values()].map(stopChild));
    this.#delayLines.clear();
    this.closeSync();
  }

  /** close() for exit hooks: SIGKILL to what still runs, then the namespaces removed. */
  closeSync(): void {
    this.#closed = true;
    for (const c of [...this.#children, ...this.#delayLines.values()]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Processes of ours still inside (children of children) would keep a namespace alive.
    for (const ns of this.#made) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/u).filter((p) => p !== '').map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }
    // Deleting a namespace deletes the veth ends inside it, and with them their peers.
    for (const ns of [...this.#made].reverse()) spawnSync('ip', ['netns', 'del', ns]);
    this.#made.length = 0;
    open.delete(this);
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
