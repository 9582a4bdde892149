// A hostile peer for tests and the demo: a real libp2p node (src/node's host, castor's
// protocol ids) that answers castor's four protocols from its own handlers, serving what
// a real data dir holds but lying in one way per node (its mode). The product has no way
// to do this: a released castor only serves what verifies. Every answer is first built
// honestly (header message, then body bytes) and then damaged or delivered badly.
//
// One process may run many hostile nodes (one per mode, each with a fresh identity), so a
// table of attacks costs one process, not one per attack.

import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { BLOB_PROTOCOL, createHost, DIRECTORY_PROTOCOL, INDEX_PROTOCOL, MAX_REQUEST_BYTES, send, STAT_PROTOCOL, type Host } from '../../src/node/index.js';
import { framed, StreamBytes } from '../../src/node/stream-io.js';
import { BLOB_GROUP_LOG, decodeDirectory, encodeDirectory, encodeSignedRoot, formatDigest, TrustStore, type DataDir, type Digest, type Directory } from '../../src/store/index.js';
import { BytesReader, encodeLength, extractSlice, groupCount, normalizeRanges, OutboardSource, walk } from '../../src/verify/index.js';
import { checkRequestDigest, parseBlobRequest } from '../../src/node/protocols/blob-serve.js';
import { BlobResponse, DirectoryRequest, DirectoryResponse, IndexRequest, IndexResponse, StatRequest, StatResponse, Status } from '../../src/node/protocols/exchange-pb.js';
import { encodeChunks, fullBitfield } from '../../src/node/protocols/stat-serve.js';

/** Every way a hostile node lies, and where. */
export const HOSTILE_MODES = {
  honest: 'answers truthfully from its data dir (for stale or forked roots its data dir holds)',
  flip: 'blob: one content byte flipped, in the group holding the middle of the blob',
  'flip-parent': 'blob: one byte of the first parent node of the slice flipped',
  truncate: 'blob: the slice stops half-way and the stream closes',
  size: 'blob: a size 12345 bytes larger, in the response header and the slice length header',
  'size-larger': 'stat and blob: a size SIZE_DELTA larger (same tree shape), the final group padded to match',
  'size-smaller': 'stat and blob: a size SIZE_DELTA smaller (same tree shape), the final group cut to match',
  outboard: 'stat: one byte of the outboard flipped (a parent, or the length header when there is none)',
  'chunks-sum': 'stat: a chunk list whose sizes do not add up to the size',
  'chunks-digest': 'stat: a chunk list naming wrong digests (sizes right)',
  bitfield: 'stat: claims every group while holding only the first half; blob requests past it get NOT_FOUND',
  'wrong-blob': "blob: another blob's valid slice (the decoy, same size when the harness makes it so)",
  garbage: 'every protocol: 4096 random bytes instead of a header',
  'huge-prefix': 'every protocol: a header length prefix of 2^40',
  silent: 'every protocol: the header (or nothing, for index), then silence with the stream open',
  drip: 'every protocol: the honest answer, one byte per DRIP_INTERVAL ms',
  'dir-hash': 'directory: the root Directory altered so it no longer hashes to its digest',
  'dir-missing': 'directory: a recursive answer that stops after the root, naming children it never sends',
} as const;

export type HostileMode = keyof typeof HOSTILE_MODES;

export function isHostileMode(s: string): s is HostileMode {
  return Object.hasOwn(HOSTILE_MODES, s);
}

/** How much size-larger and size-smaller move the size: less than a group, so the tree keeps its shape. */
export const SIZE_DELTA = 100;
export const SIZE_LIE = 12345;
export const DRIP_INTERVAL = 100;
const GARBAGE_BYTES = 4096;

/** An answer as the honest server would give it: the header message (unframed), then raw body bytes. */
interface Answer {
  header: Uint8Array;
  body: Uint8Array;
}

interface HeldBlob {
  readonly content: Uint8Array;
  readonly outboard: Uint8Array;
  readonly stat: { size: number; outboard: Uint8Array; chunks: Uint8Array; chunkCount: number };
}

export interface HostilePeerOptions {
  readonly data: DataDir;
  readonly mode: HostileMode;
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  readonly listen?: readonly string[];
  /** The blob wrong-blob serves instead of the one asked for. */
  readonly decoy?: Digest;
}

const notFound = {
  [BLOB_PROTOCOL]: () => BlobResponse.encode({ status: Status.NOT_FOUND, size: 0n, error: '' }),
  [STAT_PROTOCOL]: () => StatResponse.encode({ status: Status.NOT_FOUND, size: 0n, outboardLength: 0, chunkCount: 0, bitfieldLength: 0, complete: false, error: '' }),
  [DIRECTORY_PROTOCOL]: () => DirectoryResponse.encode({ status: Status.NOT_FOUND, error: '' }),
  [INDEX_PROTOCOL]: () => IndexResponse.encode({ status: Status.NOT_FOUND, signedRoot: new Uint8Array(0), error: '' }),
} as const;

type Protocol = keyof typeof notFound;
const PROTOCOLS = Object.keys(notFound) as Protocol[];

type Step = ReturnType<typeof walk> extends Generator<infer S> ? S : never;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class HostilePeer {
  readonly #data: DataDir;
  readonly #trust: TrustStore;
  readonly mode: HostileMode;
  readonly host: Host;
  readonly #decoy: Digest | undefined;
  readonly #blobs = new Map<string, Promise<HeldBlob | undefined>>();
  readonly #open = new Set<Stream>();
  /** Requests seen per protocol (the harness checks the liar was asked at all). */
  readonly requests = new Map<string, number>();

  private constructor(options: HostilePeerOptions, host: Host) {
    this.#data = options.data;
    this.#trust = new TrustStore(options.data);
    this.mode = options.mode;
    this.#decoy = options.decoy;
    this.host = host;
  }

  static async start(options: HostilePeerOptions): Promise<HostilePeer> {
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'], dht: false });
    const peer = new HostilePeer(options, host);
    for (const p of PROTOCOLS) {
      await host.handle(p, (stream) => void peer.#handle(p, stream), { maxInboundStreams: 256, maxOutboundStreams: 256 });
    }
    return peer;
  }

  get peerId(): string {
    return this.host.peerId.toString();
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((a) => a.toString());
  }

  async stop(): Promise<void> {
    for (const s of this.#open) s.abort(new Error('hostile peer stopping'));
    await this.host.stop();
  }

  async #handle(protocol: Protocol, stream: Stream): Promise<void> {
    this.#open.add(stream);
    this.requests.set(protocol, (this.requests.get(protocol) ?? 0) + 1);
    try {
      const request = await new StreamBytes(stream).readMessage(MAX_REQUEST_BYTES, 'request');
      await this.#deliver(stream, await this.#answer(protocol, request), protocol);
    } catch (err: unknown) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#open.delete(stream);
    }
  }

  /** Writes `answer` the way the mode delivers (badly, for the delivery modes). */
  async #deliver(stream: Stream, answer: Answer, protocol: Protocol): Promise<void> {
    switch (this.mode) {
      case 'garbage':
        await send(stream, randomBytes(GARBAGE_BYTES));
        break;
      case 'huge-prefix': {
        // varint(2^40): five continuation bytes of zero bits, then 2^5.
        await send(stream, Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20, ...randomBytes(1024)]));
        break;
      }
      case 'silent':
        if (protocol !== INDEX_PROTOCOL) await send(stream, framed(answer.header));
        await closed(stream);
        return;
      case 'drip': {
        const all = new Uint8Array([...framed(answer.header), ...answer.body]);
        for (let i = 0; i < all.length && stream.status === 'open'; i++) {
          await send(stream, all.subarray(i, i + 1));
          await sleep(DRIP_INTERVAL);
        }
        break;
      }
      default:
        await send(stream, framed(answer.header));
        await send(stream, answer.body);
    }
    await stream.close();
  }

  async #answer(protocol: Protocol, request: Uint8Array): Promise<Answer> {
    const none = { header: notFound[protocol](), body: new Uint8Array(0) };
    switch (protocol) {
      case BLOB_PROTOCOL: return (await this.#blob(request)) ?? none;
      case STAT_PROTOCOL: return (await this.#stat(request)) ?? none;
      case DIRECTORY_PROTOCOL: return (await this.#directory(request)) ?? none;
      case INDEX_PROTOCOL: return (await this.#index(request)) ?? none;
    }
  }

  /** The whole blob, its outboard and its stat, read (verified) from the data dir once. */
  #held(digest: Digest): Promise<HeldBlob | undefined> {
    const key = formatDigest(digest);
    let p = this.#blobs.get(key);
    if (p === undefined) {
      p = (async () => {
        const st = await this.#data.blobs.stat(digest);
        const stream = await this.#data.blobs.read(digest);
        if (st === undefined || stream === undefined) return undefined;
        const content = new Uint8Array(st.size);
        let at = 0;
        for await (const piece of stream) {
          content.set(piece, at);
          at += piece.length;
        }
        return { content, outboard: st.outboard, stat: { size: st.size, outboard: st.outboard, chunks: encodeChunks(st.chunks), chunkCount: st.chunks.length } };
      })();
      this.#blobs.set(key, p);
    }
    return p;
  }

  async #blob(request: Uint8Array): Promise<Answer | undefined> {
    const { digest, ranges } = parseBlobRequest(request);
    const held = await this.#held(this.mode === 'wrong-blob' && this.#decoy !== undefined ? this.#decoy : digest);
    if (held === undefined) return undefined;
    const len = held.content.length;
    if (this.mode === 'bitfield') {
      const half = Math.ceil(groupCount(len, BLOB_GROUP_LOG) / 2) * (1024 << BLOB_GROUP_LOG);
      if (normalizeRanges(ranges, len).select.some((r) => r.end > half)) return undefined;
    }
    const parts: Uint8Array[] = [];
    await extractSlice(new OutboardSource(new BytesReader(held.outboard), new BytesReader(held.content)), ranges, (b) => { parts.push(b.slice()); }, BLOB_GROUP_LOG);
    let slice = Buffer.concat(parts) as Uint8Array;
    let size = len;
    const steps = [...walk(len, BLOB_GROUP_LOG, normalizeRanges(ranges, len).select)];
    const offsets = stepOffsets(steps);
    switch (this.mode) {
      case 'flip': {
        const mid = Math.floor(len / 2);
        const i = steps.findIndex((s) => s.kind === 'group' && s.start + s.len > mid && s.len > 0);
        if (i >= 0) slice[offsets[i]! + Math.max(0, Math.min(steps[i]!.len - 1, mid - steps[i]!.start))]! ^= 0x01;
        break;
      }
      case 'flip-parent': {
        const i = steps.findIndex((s) => s.kind === 'parent');
        if (i >= 0) slice[offsets[i]! + 17]! ^= 0x01;
        break;
      }
      case 'truncate':
        slice = slice.subarray(0, Math.floor(slice.length / 2));
        break;
      case 'size':
        size = len + SIZE_LIE;
        slice.set(encodeLength(size), 0);
        break;
      case 'size-larger':
      case 'size-smaller': {
        const delta = this.mode === 'size-larger' ? SIZE_DELTA : -SIZE_DELTA;
        size = len + delta;
        slice.set(encodeLength(size), 0);
        // The final group, when the slice holds it, is last: make it as long as the lie says.
        if (steps.some((s) => s.kind === 'group' && s.final)) {
          slice = delta > 0 ? Buffer.concat([slice, randomBytes(delta)]) : slice.subarray(0, slice.length + delta);
        }
        break;
      }
    }
    return { header: BlobResponse.encode({ status: Status.OK, size: BigInt(size), error: '' }), body: slice };
  }

  async #stat(request: Uint8Array): Promise<Answer | undefined> {
    const digest = checkRequestDigest(StatRequest.decode(request).digest);
    const held = await this.#held(digest);
    if (held === undefined) return undefined;
    let { size, outboard, chunks } = held.stat;
    const groups = groupCount(size, BLOB_GROUP_LOG);
    let bitfield = fullBitfield(groups);
    const complete = true;
    switch (this.mode) {
      case 'outboard':
        // A copy: the store's outboard may be a Buffer, whose slice() is a view (a flip in
        // it would stay in the cached stat and be undone by the next request).
        outboard = new Uint8Array(outboard);
        outboard[outboard.length > 8 ? 8 + Math.floor((outboard.length - 8) / 2) : 0]! ^= 0x01;
        break;
      case 'size-larger':
      case 'size-smaller':
        size += this.mode === 'size-larger' ? SIZE_DELTA : -SIZE_DELTA;
        outboard = new Uint8Array(outboard);
        outboard.set(encodeLength(size), 0);
        chunks = new Uint8Array(0);
        break;
      case 'chunks-sum':
        chunks = chunks.slice();
        if (chunks.length >= 40) new DataView(chunks.buffer).setUint32(32, new DataView(chunks.buffer).getUint32(32, true) + 1, true);
        break;
      case 'chunks-digest':
        chunks = chunks.slice();
        for (let at = 0; at < chunks.length; at += 40) chunks[at]! ^= 0xff;
        break;
      case 'bitfield':
        bitfield = fullBitfield(groups);
        break;
    }
    const chunkCount = chunks.length / 40;
    return {
      header: StatResponse.encode({ status: Status.OK, size: BigInt(size), outboardLength: outboard.length, chunkCount, bitfieldLength: bitfield.length, complete, error: '' }),
      body: Buffer.concat([outboard, chunks, bitfield]),
    };
  }

  async #directory(request: Uint8Array): Promise<Answer | undefined> {
    const req = DirectoryRequest.decode(request);
    const digest = checkRequestDigest(req.digest);
    const dirs: Directory[] = [];
    if (req.recursive) for await (const d of this.#data.directories.getRecursive(digest)) dirs.push(d);
    else {
      const d = await this.#data.directories.get(digest);
      if (d !== undefined) dirs.push(d);
    }
    if (dirs.length === 0) return undefined;
    let encoded = dirs.map((d) => encodeDirectory(d));
    if (this.mode === 'dir-hash') encoded[0] = encodeDirectory(altered(decodeDirectory(encoded[0]!)));
    if (this.mode === 'dir-missing') encoded = encoded.slice(0, 1);
    return { header: DirectoryResponse.encode({ status: Status.OK, error: '' }), body: Buffer.concat(encoded.map(framed)) };
  }

  async #index(request: Uint8Array): Promise<Answer | undefined> {
    const req = IndexRequest.decode(request);
    const accepted = await this.#trust.state.accepted(req.publicKey);
    if (accepted === undefined) return undefined;
    return { header: IndexResponse.encode({ status: Status.OK, signedRoot: new Uint8Array(encodeSignedRoot(accepted.root)), error: '' }), body: new Uint8Array(0) };
  }
}

/** Offsets of each step's bytes in the slice (after the 8-byte length header). */
function stepOffsets(steps: readonly Step[]): number[] {
  const out: number[] = [];
  let n = 8;
  for (const s of steps) {
    out.push(n);
    if (s.kind === 'parent') n += 64;
    else if (s.kind === 'group') n += s.len;
  }
  return out;
}

/** A Directory that still validates but is not the one asked for: a size changed by one. */
function altered(d: Directory): Directory {
  if (d.files.length > 0) return { ...d, files: [{ ...d.files[0]!, size: d.files[0]!.size + 1n }, ...d.files.slice(1)] };
  if (d.directories.length > 0) return { ...d, directories: [{ ...d.directories[0]!, size: d.directories[0]!.size + 1n }, ...d.directories.slice(1)] };
  return { ...d, symlinks: [{ name: new TextEncoder().encode('x'), target: new TextEncoder().encode('y') }] };
}

/** Resolves once the stream is closed or reset by either side. */
function closed(stream: Stream): Promise<void> {
  if (stream.status !== 'open') return Promise.resolve();
  return new Promise((resolve) => stream.addEventListener('close', () => resolve(), { once: true }));
}

