// Limits of the HTTP binary cache (castor daemon --http), with units and why. Nix 2.8
// opens at most `http-connections` (25 by default) connections to one cache, so honest
// clients stay far below the connection and concurrency caps.

const second = 1000;
const minute = 60 * second;
const KiB = 1024;
const GiB = 1024 * 1024 * KiB;

/** Request line plus headers (node:http maxHeaderSize): Nix sends a few hundred bytes; 16 KiB leaves room for proxies. */
export const MAX_HEADER_BYTES = 16 * KiB;
/** All the headers must arrive within this long of the connection's request starting (slowloris). */
export const HEADERS_TIMEOUT = 10 * second;
/** A socket on which nothing moves for this long, either way, is closed: a stalled reader or writer frees its slot. */
export const IDLE_TIMEOUT = 30 * second;
/** An idle keep-alive connection is closed after this long (Nix reuses connections within a copy). */
export const KEEP_ALIVE_TIMEOUT = 5 * second;
/** Open connections; more are refused by the server as they arrive. */
export const MAX_CONNECTIONS = 256;
/**
 * Requests doing store work (rendering or ingesting a NAR, putting a path) at once; more
 * wait for a slot. Two cores: more in parallel only interleaves the same CPU.
 */
export const MAX_ACTIVE_TRANSFERS = 32;
/** Requests that may wait for a transfer slot; GETs beyond it get 503 (Nix retries those), uploads still wait. */
export const MAX_WAITING_TRANSFERS = 256;
/** A NAR upload larger than this (compressed or not) is refused: 64 GiB, beyond any store path Nix users copy. */
export const MAX_NAR_BYTES = 64 * GiB;
/**
 * An uploaded NAR is kept pending (its tree in the store, not yet a path) until its
 * narinfo names it, at most this long; then it is forgotten and gc reclaims its blobs.
 * Nix PUTs the narinfo right after the NAR.
 */
export const PENDING_UPLOAD_TTL = 10 * minute;
/** Pending uploads kept at once (a URL each); the oldest is forgotten first. */
export const MAX_PENDING_UPLOADS = 4096;
/** The Priority a castor node announces in nix-cache-info: before cache.nixos.org's 40, as a local cache should be. */
export const CACHE_PRIORITY = 30;
/**
 * A narinfo request for a path not held waits this long for its substitution (from peers
 * or an upstream cache), then gets 404 while the substitution goes on: `nix` never hangs
 * on the cache, and asks again on its next run.
 */
export const SUBSTITUTE_WAIT = 20 * second;
/** Substitutions (distinct paths) running at once; a request for another path past it is answered 404 at once. */
export const MAX_SUBSTITUTIONS = 64;
