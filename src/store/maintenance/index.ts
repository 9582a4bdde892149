// The face of src/store/maintenance: what code outside this folder may import from it.

export { DEFAULT_TMP_AGE_MS, fsck, type FsckNote, type FsckProblem, type FsckSummary, type FsckTmpLeftover } from './fsck.js';
export { DEFAULT_GRACE_MS, gc, type GcSummary } from './gc.js';
export { addPin, listPins, type Pin, removePin } from './pins.js';
