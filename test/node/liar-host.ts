// Minimal lying peers for the issue 20 defect tests, until test/support/hostile-peer.ts
// covers them: a real libp2p host (src/node's createHost, on 127.0.0.1, no DHT, no mDNS)
// whose handlers for castor's protocol ids are the test's own. Helpers build the lies
// those tests need: a size claimed a little off (same tree shape), garbage, silence.

import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { randomBytes } from 'node:crypto';
import { createHost, type Host } from '../../src/node/host.js';
import { MAX_REQUEST_BYTES } from '../../src/node/limits.js';
import { BlobRequest, BlobResponse, DirectoryResponse, StatResponse, Status } from '../../src/node/protocols/exchange-pb.js';
import { fullBitfield } from '../../src/node/protocols/stat-serve.js';
import { framed, send, sendMessage, StreamBytes } from '../../src/node/stream-io.js';
import { BLOB_GROUP_LOG } from '../../src/store/blob-service.js';
import { BytesReader, encodeLength, extractSlice, groupCount, OutboardSource } from '../../src/verify/index.js';

export type Handler = (stream: Stream) => Promise<void>;

export interface LiarHost {
  readonly host: Host;
  readonly peerId: string;
  readonly address: string;
  stop(): Promise<void>;
}

/** A host answering each protocol in `handlers` with the given handler (the request is for it to read). */
export async function startLiar(handlers: Record<string, Handler>): Promise<LiarHost> {
  const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false, mdns: false });
  for (const [protocol, handler] of Object.entries(handlers)) {
    await host.handle(protocol, (stream) => {
      handler(stream).catch((err: unknown) => stream.abort(err instanceof Error ? err : new Error(String(err))));
    }, { maxInboundStreams: 1024 });
  }
  const address = host.getMultiaddrs().find((a) => a.toString().includes('127.0.0.1'))!.toString();
  return { host, peerId: host.peerId.toString(), address, stop: async () => { await host.stop(); } };
}

/** The request message on `stream`. */
export async function readRequest(stream: Stream): Promise<Uint8Array> {
  return new StreamBytes(stream).readMessage(MAX_REQUEST_BYTES, 'request');
}

/** Answers a directory request NOT_FOUND, as an honest peer holding only blobs does. */
export const noDirectory: Handler = async (stream) => {
  await readRequest(stream);
  await sendMessage(stream, DirectoryResponse.encode({ status: Status.NOT_FOUND, error: '' }));
  await stream.close();
};

/** Reads the request, then sends 4096 random bytes where the header belongs, and closes. */
export const garbage: Handler = async (stream) => {
  await readRequest(stream);
  await send(stream, randomBytes(4096));
  await stream.close();
};

/** Reads the request and never answers, the stream left open; `held` collects the streams. */
export function silent(held: Stream[]): Handler {
  return async (stream) => {
    await readRequest(stream);
    held.push(stream);
  };
}

/**
 * Stat and blob handlers for a blob (`bytes`, its G=4 `outboard` with header) that claim a
 * size `delta` bytes off, keeping the tree's shape: the outboard's parents are the true
 * ones (they verify for the false size too), the length header and the slice follow the
 * lie, the final group cut or zero-padded to it, so only the final group's hash gives it away.
 */
export function sizeLie(bytes: Uint8Array, outboard: Uint8Array, delta: number): { stat: Handler; blob: Handler } {
  const size = bytes.length + delta;
  const lyingOutboard = outboard.slice();
  lyingOutboard.set(encodeLength(size), 0);
  const content = new Uint8Array(size);
  content.set(bytes.subarray(0, Math.min(size, bytes.length)));
  const bitfield = fullBitfield(groupCount(size, BLOB_GROUP_LOG));
  return {
    stat: async (stream) => {
      await readRequest(stream);
      await sendMessage(stream, StatResponse.encode({
        status: Status.OK, size: BigInt(size), outboardLength: lyingOutboard.length, chunkCount: 0,
        bitfieldLength: bitfield.length, complete: true, error: '',
      }));
      await send(stream, lyingOutboard);
      await send(stream, bitfield);
      await stream.close();
    },
    blob: async (stream) => {
      const req = BlobRequest.decode(await readRequest(stream));
      const ranges = req.ranges.length === 0 ? [{ start: 0, end: size }] : req.ranges.map((r) => ({ start: Number(r.start), end: Number(r.end) }));
      await sendMessage(stream, BlobResponse.encode({ status: Status.OK, size: BigInt(size), error: '' }));
      const source = new OutboardSource(new BytesReader(lyingOutboard), new BytesReader(content));
      await extractSlice(source, ranges, async (block) => { await send(stream, block); }, BLOB_GROUP_LOG);
      await stream.close();
    },
  };
}

/** The true stat answer of a blob (`bytes`, its G=4 `outboard`), framed header then body, as one buffer. */
export function statAnswer(bytes: Uint8Array, outboard: Uint8Array): { header: Uint8Array; body: Uint8Array } {
  const bitfield = fullBitfield(groupCount(bytes.length, BLOB_GROUP_LOG));
  const header = framed(StatResponse.encode({
    status: Status.OK, size: BigInt(bytes.length), outboardLength: outboard.length, chunkCount: 0,
    bitfieldLength: bitfield.length, complete: true, error: '',
  }));
  return { header, body: new Uint8Array(Buffer.concat([outboard, bitfield])) };
}

/** A stat handler that sends the true header, then nothing, the stream left open (kept in `held`). */
export function statThenSilence(bytes: Uint8Array, outboard: Uint8Array, held: Stream[]): Handler {
  const { header } = statAnswer(bytes, outboard);
  return async (stream) => {
    await readRequest(stream);
    await send(stream, header);
    held.push(stream);
  };
}

/** A stat handler that sends the true answer one byte every `everyMs` (a drip), until the stream ends. */
export function statDrip(bytes: Uint8Array, outboard: Uint8Array, everyMs: number): Handler {
  const { header, body } = statAnswer(bytes, outboard);
  const all = new Uint8Array(Buffer.concat([header, body]));
  return async (stream) => {
    await readRequest(stream);
    for (const b of all) {
      if (stream.status !== 'open') return;
      await send(stream, Uint8Array.of(b));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    await stream.close();
  };
}
