// What `castor fetch` is asked for, DIGEST, TICKET or KEY/NAME, and how each becomes a
// digest to fetch and peers to fetch it from. A ticket only says where to look; a name
// is resolved only through a signed root that passes the trust store's rules (trusted
// key, valid signature, no rollback, not expired), fetched from the peers first.

import { readFile } from 'node:fs/promises';
import { type Digest, digestEquals, parseDigest } from '../store/index.js';
import { parseKeyList, showRootKey, type AcceptedRoot, type TrustStore } from '../store/index.js';
import { CastorError } from '../verify/index.js';
import { formatPublicKey, type PublicKey } from '../verify/index.js';
import type { CastorNode } from '../node/index.js';
import { InvalidTicketError, decodeTicket, looksLikeTicket, ticketDialAddresses, type Ticket } from '../node/index.js';
import { CommandExit, UsageError, oneLine } from './cli-io.js';
import { nameArg } from './trust-options.js';

export type FetchTarget =
  | { readonly kind: 'digest'; readonly digest: Digest }
  | { readonly kind: 'ticket'; readonly ticket: Ticket }
  | { readonly kind: 'name'; readonly key: string; readonly name: Uint8Array; readonly nameText: string };

/** DIGEST (64 hex digits), TICKET (castor1...) or KEY/NAME (NAME after the last "/"); else a usage error. */
export function parseFetchTarget(text: string): FetchTarget {
  if (/^[0-9a-fA-F]{64}$/u.test(text)) return { kind: 'digest', digest: parseDigest(text) };
  if (looksLikeTicket(text)) {
    try {
      return { kind: 'ticket', ticket: decodeTicket(text) };
    } catch (err: unknown) {
      if (err instanceof InvalidTicketError) throw new UsageError(`fetch: ${err.message}`);
      throw err;
    }
  }
  const slash = text.lastIndexOf('/');
  if (slash > 0 && slash < text.length - 1) {
    const nameText = text.slice(slash + 1);
    return { kind: 'name', key: text.slice(0, slash), name: nameArg(nameText), nameText };
  }
  throw new UsageError(`fetch: expected a DIGEST (64 hex digits), a TICKET (castor1...) or KEY/NAME, got ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)}`);
}

/** Whether `target` needs peers found for it (--peer, or discovery): a ticket names its own. */
export function needsPeers(target: FetchTarget): boolean {
  return target.kind !== 'ticket';
}

export interface ResolvedTarget {
  readonly digest: Digest;
  /** Multiaddrs to fetch from; empty means discovery (connected peers, then the DHT). */
  readonly peers: string[];
  /** For KEY/NAME: the root the name was resolved through. */
  readonly root?: AcceptedRoot;
}

export interface ResolveOptions {
  /** --peer multiaddrs. */
  readonly peers: readonly string[];
  /** The data dir's trust store, with the --trusted-key keys. */
  readonly trust: TrustStore;
  readonly signal?: AbortSignal;
}

export async function resolveFetchTarget(node: CastorNode, target: FetchTarget, options: ResolveOptions): Promise<ResolvedTarget> {
  switch (target.kind) {
    case 'digest':
      return { digest: target.digest, peers: [...options.peers] };
    case 'ticket':
      return { digest: target.ticket.digest, peers: [...(await reachTicketPeer(node, target.ticket, options.signal)), ...options.peers] };
    case 'name':
      return resolveName(node, target, options);
  }
}

/** Dials the ticket's addresses in turn until one answers (a ticket lists every interface, not all reachable from here). */
async function reachTicketPeer(node: CastorNode, ticket: Ticket, signal?: AbortSignal): Promise<string[]> {
  const addresses = ticketDialAddresses(ticket);
  if (addresses.length === 0) return [];
  const failures: string[] = [];
  for (const address of addresses) {
    signal?.throwIfAborted();
    try {
      const id = await node.connect(address, { signal });
      if (id !== ticket.peerId) throw new Error(`the peer there is ${id}`);
      return [address];
    } catch (err: unknown) {
      signal?.throwIfAborted();
      failures.push(`${address}: ${oneLine(err)}`);
    }
  }
  throw new CastorError('DIAL_FAILED', `cannot reach the ticket's peer ${ticket.peerId} at any of its ${addresses.length} addresses (${failures.join('; ')})`, ticket.peerId);
}

/** The trusted key KEY names: a key name, "name:base64", the base64 or hex public key, or a key file. */
async function trustedKeyFor(trust: TrustStore, spec: string): Promise<PublicKey> {
  const trusted = await trust.trustedKeys();
  const hex = spec.toLowerCase();
  let found = trusted.filter((k) => {
    const b64 = Buffer.from(k.publicKey).toString('base64');
    return spec === k.name || spec === `${k.name}:${b64}` || spec === b64 || hex === Buffer.from(k.publicKey).toString('hex');
  });
  if (found.length === 0) {
    let fileKeys: PublicKey[] = [];
    try {
      fileKeys = parseKeyList(await readFile(spec, 'utf8'));
    } catch {
      // not a key file
    }
    found = trusted.filter((k) => fileKeys.some((f) => f.name === k.name && digestEquals(f.publicKey, k.publicKey)));
  }
  if (found.length === 0) {
    throw new CastorError('UNTRUSTED_KEY', `${JSON.stringify(spec)} is not a trusted key: trust it with --trusted-key or in config.json "trustedKeys" (a name resolves only through a trusted publisher's signed root)`, spec);
  }
  if (found.length > 1) throw new CastorError('AMBIGUOUS_KEY', `${JSON.stringify(spec)} names several trusted keys (${found.map((k) => formatPublicKey(k)).join(', ')}): give the public key`, spec);
  return found[0]!;
}

async function resolveName(node: CastorNode, target: Extract<FetchTarget, { kind: 'name' }>, options: ResolveOptions): Promise<ResolvedTarget> {
  const key = await trustedKeyFor(options.trust, target.key);
  // Judged by this trust store (it carries --trusted-key), not the node's own. Without
  // --peer: connected peers, then the holders of the key's root the DHT names.
  await node.fetchRootWith(options.trust, key.publicKey, { peers: [...options.peers], ...(options.signal && { signal: options.signal }) });
  const { accepted, entry } = await options.trust.resolve(formatPublicKey(key), target.name);
  const where = `the index of ${showRootKey(accepted.root)} (sequence ${accepted.root.sequence})`;
  if (entry === undefined) throw new CommandExit(1, `no entry ${JSON.stringify(target.nameText)} in ${where}`, 'NOT_FOUND');
  const n = entry.node;
  if ('symlink' in n) throw new CommandExit(1, `${JSON.stringify(target.nameText)} in ${where} is a symlink to ${JSON.stringify(new TextDecoder().decode(n.symlink.target))}: nothing to fetch`, 'NOT_FETCHABLE');
  const digest = ('directory' in n ? n.directory.digest : n.file.digest) as Digest;
  return { digest, peers: [...options.peers], root: accepted };
}
