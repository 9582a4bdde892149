// A system call's failure carried across a thread boundary: structured clone keeps a plain
// object's fields but not an Error's class or code, so the worker sends these and the main
// thread rebuilds an errno Error that fsError classifies (DISK_FULL, READ_ONLY, ...) as usual.

export interface ErrnoInfo {
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly path?: string;
}

export function errnoInfo(err: unknown): ErrnoInfo {
  const e = err as NodeJS.ErrnoException;
  return { message: e?.message ?? String(err), code: e?.code, errno: e?.errno, syscall: e?.syscall, path: e?.path };
}

/** A Node errno error as the other thread's system call threw it. */
export function errnoError(info: ErrnoInfo): Error {
  return Object.assign(new Error(info.message), { code: info.code, errno: info.errno, syscall: info.syscall, path: info.path });
}
