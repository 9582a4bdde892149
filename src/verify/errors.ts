// Typed errors of the verify layer: a stable uppercase `code` that callers and
// tests match on, and the offending value. Messages may change; codes do not.

export class CastorError extends Error {
  readonly code: string;
  readonly value: unknown;
  constructor(code: string, message: string, value?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.value = value;
  }
}

/** Bytes did not hash to what the tree above them says. `offset` is where in the stream the bad node starts. */
export class HashMismatchError extends CastorError {
  readonly offset: number;
  constructor(what: string, offset: number, value?: unknown) {
    super('HASH_MISMATCH', `${what} at offset ${offset} failed verification`, value);
    this.offset = offset;
  }
}

/** The stream ended before everything the tree promised had arrived. */
export class UnexpectedEofError extends CastorError {
  readonly offset: number;
  constructor(offset: number, wanted: number) {
    super('UNEXPECTED_EOF', `input ended at offset ${offset}, ${wanted} more bytes expected`, wanted);
    this.offset = offset;
  }
}

/** Malformed argument or input: wrong type, length, or range. */
export class InvalidInputError extends CastorError {
  constructor(message: string, value?: unknown) {
    super('INVALID_INPUT', message, value);
  }
}
