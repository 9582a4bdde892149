// Typed errors of the castore model: one class per kind of failure, a stable
// code, and a stable `reason` that says which rule a Directory or Node broke.

import { CastorError } from '../../verify/index.js';

/**
 * Which rule was broken. Stable, like `code`: tests and callers match on it.
 * The tvix error each corresponds to is noted for readers porting tests.
 */
export type InvalidDirectoryReason =
  | 'EMPTY_NAME' // PathComponentError::Empty
  | 'DOT_NAME' // PathComponentError::CurDir / Parent ('.' or '..')
  | 'NAME_HAS_SLASH' // PathComponentError::Slashes
  | 'NAME_HAS_NUL' // PathComponentError::Null
  | 'NAME_TOO_LONG' // PathComponentError::TooLong (over 255 bytes)
  | 'WRONG_SORTING' // DirectoryError::WrongSorting
  | 'DUPLICATE_NAME' // DirectoryError::DuplicateName (within or across lists)
  | 'DIGEST_LENGTH' // ValidateNodeError::InvalidDigestLen
  | 'EMPTY_SYMLINK_TARGET' // SymlinkTargetError::Empty
  | 'SYMLINK_TARGET_TOO_LONG' // SymlinkTargetError::TooLong (over 4095 bytes)
  | 'SYMLINK_TARGET_HAS_NUL' // SymlinkTargetError::Null
  | 'SIZE_OUT_OF_RANGE' // a size that is not a uint64 (only a JS caller can make one)
  | 'SIZE_OVERFLOW' // DirectoryError::SizeOverflow: the Directory's size exceeds u64
  | 'NAME_IN_ANONYMOUS_NODE' // DirectoryError::NameInAnonymousNode
  | 'NO_NODE_SET' // DirectoryError::NoNodeSet
  | 'MALFORMED_PROTOBUF'; // bytes that do not decode as the message at all

/**
 * A Directory or Node that breaks a castore rule. `nodeName` is the name of the
 * offending entry (raw bytes; absent for whole-message failures), also in `value`.
 */
export class InvalidDirectoryError extends CastorError {
  readonly reason: InvalidDirectoryReason;
  readonly nodeName: Uint8Array | undefined;
  constructor(reason: InvalidDirectoryReason, detail: string, nodeName?: Uint8Array, options?: { cause?: unknown }) {
    const where = nodeName === undefined ? '' : ` (entry ${showName(nodeName)})`;
    super('INVALID_DIRECTORY', `invalid directory: ${detail}${where}`, nodeName, options);
    this.reason = reason;
    this.nodeName = nodeName;
  }
}

/**
 * A name for messages: JSON-quoted if it is valid UTF-8, else hex, so a hostile
 * name can neither spoof a log line nor be silently altered by decoding.
 */
export function showName(name: Uint8Array): string {
  const shown = name.length > SHOWN_BYTES ? name.subarray(0, SHOWN_BYTES) : name;
  const more = name.length > SHOWN_BYTES ? `… (${name.length} bytes)` : '';
  try {
    return JSON.stringify(new TextDecoder('utf-8', { fatal: true }).decode(shown)) + more;
  } catch {
    return `0x${Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString('hex')}${more}`;
  }
}

const SHOWN_BYTES = 64;
