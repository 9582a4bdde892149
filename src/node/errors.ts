// Errors of the node layer. Like the other layers': a stable `code`, the offending value,
// and messages that say which peer and which digest.

import { formatDigest, type Digest } from '../store/index.js';
import { CastorError } from '../verify/index.js';

/**
 * A peer sent something that does not verify or breaks the protocol: bytes that fail
 * their hash, a size or outboard that lies, a malformed message. Nothing it sent past the
 * last verified group was kept.
 */
export class PeerMisbehavedError extends CastorError {
  constructor(readonly peer: string, readonly digest: Digest | undefined, detail: string, options?: { cause?: unknown }) {
    super('PEER_MISBEHAVED', `peer ${peer} sent bad data${digest === undefined ? '' : ` for ${formatDigest(digest)}`}: ${detail}`, peer, options);
  }
}

/** A peer answered with an error status (BUSY, BAD_REQUEST, INTERNAL). */
export class RemoteError extends CastorError {
  constructor(readonly peer: string, readonly remoteCode: string, detail: string) {
    super('REMOTE_ERROR', `peer ${peer} refused: ${remoteCode}${detail === '' ? '' : `: ${detail}`}`, remoteCode);
  }
}

/** No peer asked has what was asked for. */
export class NotFoundOnPeersError extends CastorError {
  constructor(readonly what: string, readonly peers: readonly string[], readonly failures: readonly Error[] = []) {
    const why = failures.length === 0 ? '' : `; ${failures.map((f) => f.message).join('; ')}`;
    super('NOT_FOUND', `${what} is not held by ${peers.length === 0 ? 'any connected peer (none connected: give --peer)' : `peer${peers.length > 1 ? 's' : ''} ${peers.join(', ')}`}${why}`, what);
  }
}

/** A multiaddr or peer argument that cannot be used. */
export class InvalidPeerAddressError extends CastorError {
  constructor(readonly address: string, detail: string, options?: { cause?: unknown }) {
    super('INVALID_ADDRESS', `${JSON.stringify(address)}: ${detail}`, address, options);
  }
}

/** A dial that failed or timed out. */
export class DialError extends CastorError {
  constructor(readonly address: string, detail: string, options?: { cause?: unknown }) {
    super('DIAL_FAILED', `cannot reach ${address}: ${detail}`, address, options);
  }
}


/** A peer's stream failed (reset, timed out, closed early) before its answer was complete. */
export class PeerFailedError extends CastorError {
  constructor(readonly peer: string, detail: string, options?: { cause?: unknown }) {
    super('PEER_FAILED', `peer ${peer}: ${detail}`, peer, options);
  }
}
