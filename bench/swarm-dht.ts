// DHT lookup time to the first provider, on loopback networks of 10 and 30 castor nodes
// in this process (mDNS off, each node bootstrapped to one or two earlier ones). For each
// network: 20 lookups of different digests, each announced by a random node and looked up
// from another random node; the time from starting the lookup to the first PROVIDER
// answer naming a provider. Then a node that joins after all of them were announced (so it
// holds none of the records itself) looks up the same 20 digests: every one of those
// lookups goes over the network. Bounded: a hard deadline stops the run.
//
//   node dist/bench/swarm-dht.js    (BENCH_DHT_SIZES=10,30 BENCH_DHT_LOOKUPS=20; BENCH_DHT_TRACE=1
//                                    prints each newcomer lookup time in order)

import { randomBytes } from 'node:crypto';
import { CastorNode } from '../src/node/index.js';
import { contentKey } from '../src/node/index.js';
import { openDataDir } from '../src/store/index.js';
import { asDigest } from '../src/store/index.js';
import { median, removeDir, tempDir } from './bench-util.js';

const SIZES = (process.env['BENCH_DHT_SIZES'] ?? '10,30').split(',').map(Number);
const LOOKUPS = Number(process.env['BENCH_DHT_LOOKUPS'] ?? 20);
const TARGET_MS = 300;
/** The whole run stops by itself after this long, whatever happens. */
const DEADLINE_MS = 10 * 60_000;

interface Lookup {
  readonly ms: number;
  /** The looking node held the record itself (it was among the closest peers the provider stored it on). */
  readonly local: boolean;
}

function pick<T>(xs: readonly T[], not?: T): T {
  for (;;) {
    const x = xs[Math.floor(Math.random() * xs.length)]!;
    if (x !== not) return x;
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function network(size: number, dir: string): Promise<CastorNode[]> {
  const nodes: CastorNode[] = [];
  for (let i = 0; i < size; i++) {
    const data = await openDataDir(`${dir}/n${size}-${i}`, { create: true, durable: false });
    // One or two earlier nodes, at random: a sparse graph, not all-to-all.
    const bootstrap = i === 0 ? [] : [...new Set([pick(nodes), pick(nodes)])].map((n) => n.addresses()[0]!);
    nodes.push(await CastorNode.start(data, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mdns: false }));
  }
  const until = Date.now() + 10_000;
  while (nodes.some((n) => (n.host.services.dht?.routingTable.size ?? 0) === 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  // Let the start-up self-queries fill the routing tables, as on a network that has run a while.
  await new Promise((r) => setTimeout(r, 2000));
  return nodes;
}

async function lookup(from: CastorNode, digest: Uint8Array): Promise<Lookup | undefined> {
  const dht = from.host.services.dht!;
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(15_000)]);
  const t0 = performance.now();
  try {
    for await (const event of dht.findProviders(contentKey(digest), { signal })) {
      if (event.name === 'PROVIDER' && event.providers.some((p) => !p.id.equals(from.host.peerId))) {
        return { ms: performance.now() - t0, local: event.from.equals(from.host.peerId) };
      }
    }
  } catch {
    // timed out: counted as not found
  } finally {
    stop.abort();
  }
  return undefined;
}

async function bench(size: number, dir: string): Promise<string> {
  const t0 = performance.now();
  const nodes = await network(size, dir);
  const built = (performance.now() - t0) / 1000;
  const results: Lookup[] = [];
  const fresh: number[] = [];
  let missed = 0;
  try {
    const digests: Uint8Array[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const digest = asDigest(new Uint8Array(randomBytes(32)));
      digests.push(digest);
      const provider = pick(nodes);
      await provider.announce(digest);
      const r = await lookup(pick(nodes, provider), digest);
      if (r === undefined) missed++;
      else results.push(r);
    }
    // A newcomer, told of one node only, after every record was stored elsewhere.
    const data = await openDataDir(`${dir}/n${size}-fresh`, { create: true, durable: false });
    const newcomer = await CastorNode.start(data, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [pick(nodes).addresses()[0]!], mdns: false });
    nodes.push(newcomer);
    const until = Date.now() + 10_000;
    while ((newcomer.host.services.dht?.routingTable.size ?? 0) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const digest of digests) {
      const r = await lookup(newcomer, digest);
      if (r === undefined || r.local) missed++;
      else fresh.push(r.ms);
    }
    if (process.env['BENCH_DHT_TRACE']) process.stderr.write(`newcomer lookups (ms, in order): ${fresh.map((x) => x.toFixed(0)).join(' ')}\n`);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
  const ms = results.map((r) => r.ms);
  const remote = results.filter((r) => !r.local).map((r) => r.ms);
  const fmt = (x: number | undefined): string => (x === undefined ? 'n/a' : x.toFixed(1));
  const med = ms.length > 0 ? median(ms) : undefined;
  const freshMed = fresh.length > 0 ? median(fresh) : undefined;
  const met = med !== undefined && med < TARGET_MS && freshMed !== undefined && freshMed < TARGET_MS && missed === 0;
  return `| ${size} nodes | ${results.length}/${LOOKUPS} | ${fmt(med)} | ${fmt(ms.length > 0 ? quantile(ms, 0.9) : undefined)} | ${results.length - remote.length} | ${fmt(remote.length > 0 ? median(remote) : undefined)} | ${fresh.length}/${LOOKUPS} | ${fmt(freshMed)} | ${fmt(fresh.length > 0 ? quantile(fresh, 0.9) : undefined)} | < ${TARGET_MS} ms: ${met ? 'met' : 'NOT met'} | ${built.toFixed(1)} s |`;
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    process.stderr.write(`bench:swarm-dht: stopped after ${DEADLINE_MS / 1000} s\n`);
    process.exit(1);
  }, DEADLINE_MS);
  deadline.unref();
  const dir = tempDir();
  const rows: string[] = [];
  try {
    for (const size of SIZES) rows.push(await bench(size, dir));
  } finally {
    removeDir(dir);
  }
  process.stdout.write(`DHT lookup time to the first provider (castor kad-dht /castor/kad/1.0.0, loopback, one process, ${LOOKUPS} lookups per network)\n\n`);
  process.stdout.write('| network | found | median ms | p90 ms | answered from own records | median ms, answered by a peer | newcomer found | newcomer median ms | newcomer p90 ms | target (both medians) | network built in |\n');
  process.stdout.write('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
  for (const r of rows) process.stdout.write(`${r}\n`);
  process.stdout.write('\nEach lookup: a fresh random digest announced by a random node, looked up from another random node (kad-dht findProviders, time to the first PROVIDER event naming another node).\nWith k = 20, a provide stores the record on up to 20 closest nodes, so in small networks the looking node often holds it already (\"answered from own records\"); \"answered by a peer\" counts only the others. The newcomer joins after all the announcements, bootstrapped to one random node, so none of its lookups can be answered from its own records.\n');
  // Libraries may leave timers behind; the bench is done.
  setTimeout(() => process.exit(0), 100).unref();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:swarm-dht: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
