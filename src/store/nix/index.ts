// The face of src/store/nix: Nix's formats over castore (NARs in and out; store paths).

export { NarAbandonedError, NarFileSizeError, NarFormatError, type NarFormatReason, NarMissingBlobError } from './nar-errors.js';
export { ingestNar, type NarIngestOptions, type NarIngestResult } from './nar-ingest.js';
export { MAX_NAR_DEPTH, type NarEvent, readNar } from './nar-reader.js';
export { narHashOf, NarRender, type NarRenderOptions, type NarSummary, renderNar } from './nar-render.js';
