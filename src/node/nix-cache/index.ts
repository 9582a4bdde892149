// The face of src/node/nix-cache: the HTTP binary cache `castor daemon --http` serves to
// `nix` (nix copy --to/--from, substituters), over castore trees and the PathInfo store.
// Protocol as Nix 2.8 speaks it: ../shared/NIX.md; limits: limits.ts.

export { NixCacheError, type NixCacheErrorCode } from './errors.js';
export * from './limits.js';
export { parseNarFileName, servedNarUrl, type NarFileName } from './nar-file-name.js';
export { isLoopback, NixCacheServer, type NixCacheOptions } from './nix-cache-server.js';
export type { NixPathInfoSource } from './path-info-source.js';
export { InvalidHttpAddressError, parseHttpAddress } from './http-address.js';
export { CONFIG_HTTP, CONFIG_HTTP_REMOTE_UPLOADS, CONFIG_NIX_UPSTREAMS, type HttpConfig, readHttpConfig } from './http-config.js';
export { type NixSubstituter, SubstituteError, substituteFrom } from './substituter.js';
export { pathInfoSink, UpstreamSubstituter, type UpstreamSubstituterOptions } from './upstream-substituter.js';
export { NarClaimMismatchError, PeerSubstituter, type PeerSubstituterOptions } from './peer-substituter.js';
