// castor nix export STOREPATH [OUTPUT]: a held store path's NAR, rendered from castore
// with every blob verified, and its sha256 checked against the PathInfo's narHash before
// the last piece is let out; on a mismatch OUTPUT is removed.

import { type FileHandle, open, rm } from 'node:fs/promises';
import { formatNixHash, NarMismatchError, NarRender } from '../../../store/index.js';
import { CommandExit, HELP_OPTION, type Io, isStdio, openOutput, parse, UsageError } from '../../cli-io.js';
import { progressBar } from '../../progress.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../../store-options.js';
import { openNixStore, storePathArg } from './nix-options.js';

export const EXPORT_HELP = `usage: castor nix export STOREPATH [OUTPUT] [--force] [--data-dir DIR]

Writes the NAR of a held store path to OUTPUT (or stdout when absent or -), the same
bytes as \`nix store dump-path\`. Every blob is verified as it is read, and the NAR's
sha256 and size are checked against the path's narHash and narSize before its last
piece is written: on a mismatch OUTPUT is removed (stdout is left short of a whole NAR).
  --force     replace OUTPUT if it exists
${DATA_DIR_HELP}
Exit status: 0 written, 1 not held, corrupt, mismatch, OUTPUT exists or I/O failure,
2 bad usage.
`;

interface Sink {
  write(bytes: Uint8Array): Promise<void>;
  end(): Promise<void>;
  /** After a failure: remove what was written, if it can be. */
  discard(): Promise<void>;
}

async function fileSink(path: string, force: boolean): Promise<Sink> {
  let fh: FileHandle;
  try {
    fh = await open(path, force ? 'w' : 'wx');
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === 'EEXIST') throw new CommandExit(1, `${path} exists (--force replaces it)`, 'OUTPUT_EXISTS');
    throw new CommandExit(1, `cannot create ${path}: ${(err as Error).message}`, 'IO');
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) { closed = true; await fh.close(); }
  };
  return {
    async write(bytes) {
      let at = 0;
      while (at < bytes.length) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
    },
    end: close,
    async discard() {
      await close().catch(() => undefined); // the removal below is what matters
      await rm(path, { force: true });
    },
  };
}

function stdoutSink(): Sink {
  const out = openOutput(undefined);
  return { write: async (b) => { await out.write(b); }, end: () => out.end(), discard: async () => {} };
}

export async function exportCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, force: { type: 'boolean' } }, 'nix export');
  if (values['help'] === true) { io.out(EXPORT_HELP); return 0; }
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`nix export: expected STOREPATH [OUTPUT], got ${positionals.length} arguments`);
  const storePath = storePathArg(positionals[0]!);
  const output = positionals[1];
  const store = await openNixStore(values);
  const info = await store.paths.get(storePath);
  if (info === undefined || info.node === undefined) throw new CommandExit(1, `${storePath} is not held in ${store.data.layout.root}`, 'NOT_FOUND');
  const sink = isStdio(output) ? stdoutSink() : await fileSink(output!, values['force'] === true);
  const bar = progressBar(`export ${output ?? 'stdout'}`, info.narSize);
  try {
    const render = new NarRender(info.node, { blobs: store.data.blobs, directories: store.data.directories });
    // One piece is held back until the whole NAR has hashed to the narHash.
    let held: Uint8Array | undefined;
    let done = 0;
    for await (const piece of render) {
      if (held !== undefined) await sink.write(held);
      held = piece;
      done += piece.length;
      bar.update(done);
    }
    const got = await render.result;
    if (got.narSize !== info.narSize) throw new NarMismatchError(storePath, 'NarSize', String(info.narSize), String(got.narSize));
    if (!Buffer.from(got.narHash).equals(info.narHash)) {
      throw new NarMismatchError(storePath, 'NarHash', formatNixHash('sha256', info.narHash), formatNixHash('sha256', got.narHash));
    }
    if (held !== undefined) await sink.write(held);
    await sink.end();
  } catch (err: unknown) {
    await sink.discard();
    throw err;
  } finally {
    bar.finish();
  }
  return 0;
}
