// TEST-ONLY: a serving node that lies on purpose, so tests and the demo can show a client
// catching it. Set CASTOR_DEBUG_TAMPER in the environment of the *serving* process:
//
//   flip      the blob protocol flips one content byte (in the group holding the middle of the blob)
//   truncate  the blob protocol stops half-way through the slice and closes the stream
//   size      the blob protocol claims a size 12345 bytes larger, in its header and in the slice's length header
//   outboard  the stat protocol flips a byte of the outboard it sends
//   garbage   every protocol answers with random bytes instead of a header
//
// Never set it on a node anyone relies on: it makes the node a lying peer.

export type TamperMode = 'flip' | 'truncate' | 'size' | 'outboard' | 'garbage';

const MODES: readonly string[] = ['flip', 'truncate', 'size', 'outboard', 'garbage'];

/** The tampering asked for by CASTOR_DEBUG_TAMPER, read on each request; undefined normally. */
export function tamperMode(env: NodeJS.ProcessEnv = process.env): TamperMode | undefined {
  const v = env['CASTOR_DEBUG_TAMPER'];
  return v !== undefined && MODES.includes(v) ? (v as TamperMode) : undefined;
}

/** The size lie of `size` mode. */
export const SIZE_LIE = 12345;
