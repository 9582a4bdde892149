// Every limit of the castor protocols in one place, with units. Servers apply them to
// what peers send; clients apply them to what servers answer. Message caps stay below
// libp2p's own 4 MiB (stream read buffers, byteStream and it-length-prefixed all stop there).

const second = 1000;
const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest request message (digest, ranges, key): 64 KiB, far more than any honest request. */
export const MAX_REQUEST_BYTES = 64 * KiB;
/** Largest response header message (status, size, lengths, error text). */
export const MAX_HEADER_BYTES = 64 * KiB;
/** Largest single Directory message on the wire. */
export const MAX_DIRECTORY_BYTES = 4 * MiB - 64 * KiB;
/** Ranges in one blob request. */
export const MAX_RANGES = 1024;
/** Largest chunk list a stat answer may carry (entries of 40 bytes). */
export const MAX_STAT_CHUNKS = 1 << 22;
/** Largest error text a server sends back. */
export const MAX_ERROR_TEXT = 512;

/** A request must arrive whole within this long of the stream opening. */
export const REQUEST_TIMEOUT = 10 * second;
/**
 * Longest wait on a peer for the next bytes of anything we read from it, on either side
 * (stream-io.ts's progress rule; yamux's own inactivityTimeout is stored and never used).
 */
export const IDLE_TIMEOUT = 30 * second;
/**
 * Slowest a peer may send while we wait on it, over time (bytes per second): 16 KiB/s,
 * one group a second. Below it a peer that sends a byte now and then (a drip) uses up
 * IDLE_TIMEOUT's credit as a silent one would, and is given up on.
 */
export const MIN_PEER_RATE = 16 * KiB;
/** A response header must arrive within this long of the request being sent. */
export const RESPONSE_TIMEOUT = 30 * second;
/** Dialling a peer. */
export const DIAL_TIMEOUT = 10 * second;

/** Inbound streams one connection may have open per castor protocol. */
export const MAX_INBOUND_STREAMS = 32;
/** Outbound streams per protocol per connection. */
export const MAX_OUTBOUND_STREAMS = 64;
/** Requests one peer may have in flight across all castor protocols; more are refused with BUSY. */
export const MAX_REQUESTS_PER_PEER = 32;
/**
 * Blob requests served at once (all peers): each holds a few read-ahead pieces and a
 * stream window, so this bounds the server's memory under a crowd; more get BUSY.
 */
export const MAX_CONCURRENT_BLOB_SERVES = 24;
/**
 * Blob requests served at once for one peer: a third of MAX_CONCURRENT_BLOB_SERVES, so one
 * peer (however many requests it sends, however slowly it reads) leaves two thirds of the
 * slots to others, while a tree fetch's TREE_FETCH_CONCURRENCY (8) blobs still go at once.
 */
export const MAX_BLOB_SERVES_PER_PEER = 8;
/** Protocol violations (malformed, oversized, timed-out requests) before a peer is disconnected. */
export const MAX_VIOLATIONS_PER_PEER = 16;

/** Inbound connections per second from one host: LAN bursts (many CLI fetches, tests) need more than libp2p's 5. */
export const INBOUND_CONNECTION_THRESHOLD = 200;
/** Connections upgrading at once. */
export const MAX_INCOMING_PENDING = 64;

/** A reader pauses the stream once this much is buffered unread, and resumes below LOW_WATER. */
export const HIGH_WATER = 2 * MiB;
export const LOW_WATER = 512 * KiB;
/** yamux window ceiling: what a paused stream may still receive, kept under the 4 MiB read buffer. */
export const MAX_STREAM_WINDOW = 2 * MiB;
/** Read buffer of castor's streams (libp2p's default; the window keeps us under it). */
export const MAX_READ_BUFFER = 4 * MiB;

/** Blobs fetched at once when a tree is fetched. */
export const TREE_FETCH_CONCURRENCY = 8;

/**
 * A peer's proof of a blob's size (its final group, at most 16 KiB, and the parents above
 * it) must arrive within this long; a peer that holds the proof back is not waited for.
 */
export const SIZE_PROOF_TIMEOUT = 30 * second;
