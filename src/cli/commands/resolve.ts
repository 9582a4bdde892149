// castor resolve KEY/NAME: what a name is, only through an accepted signed root.

import { formatDigest } from '../../store/index.js';
import { type IndexEntry, showRootKey } from '../../store/index.js';
import { toHex } from '../../verify/index.js';
import { nix32Encode } from '../../verify/index.js';
import { CommandExit, HELP_OPTION, parse, processIo, reportError, UsageError, type Io } from '../cli-io.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION } from '../store-options.js';
import { TRUSTED_KEY_HELP, TRUSTED_KEY_OPTION, nameArg, openTrust } from '../trust-options.js';

const HELP = `Usage: castor resolve KEY/NAME [--json] [--trusted-key FILE_OR_TEXT]... [--data-dir DIR]

Looks NAME up in the index of the root this data dir last accepted for KEY, and prints
what it names: the digest of a directory or file entry (the target of a symlink). KEY is
a key name (cache.example.org-1), "name:base64", the bare base64 or hex public key, or a
key file; NAME ends at the last "/". Only a root that is still usable counts: its key
still trusted, its signature valid, not expired. The lookup reads and bao-verifies one
block of the index (at most 128 entries), found through the lookup table the data dir
keeps beside each accepted root, not the whole index.
  --json    {"key", "sequence", "name", "type": "directory"|"file"|"symlink", "digest",
            "size", "executable", "target", "nix": {...} when the entry has Nix metadata}
${TRUSTED_KEY_HELP}
${DATA_DIR_HELP}
Exit status: 0 found, 1 no such name, no usable root, or a store failure, 2 bad usage.
`;

const utf8 = new TextDecoder();

function entryJson(entry: IndexEntry): Record<string, unknown> {
  const node = entry.node;
  const out: Record<string, unknown> = { name: utf8.decode(entry.name) };
  if ('directory' in node) Object.assign(out, { type: 'directory', digest: formatDigest(node.directory.digest), size: Number(node.directory.size) });
  else if ('file' in node) Object.assign(out, { type: 'file', digest: formatDigest(node.file.digest), size: Number(node.file.size), executable: node.file.executable });
  else Object.assign(out, { type: 'symlink', target: utf8.decode(node.symlink.target) });
  const nix = entry.nix;
  if (nix !== undefined) {
    const n = nix.narinfo;
    out['nix'] = {
      references: n?.referenceNames ?? nix.references.map((r) => nix32Encode(r)),
      ...(n && {
        nar_size: Number(n.narSize),
        nar_hash: `sha256:${nix32Encode(n.narSha256)}`,
        signatures: n.signatures.map((s) => `${s.name}:${Buffer.from(s.data).toString('base64')}`),
        ...(n.deriver && { deriver: `${nix32Encode(n.deriver.digest)}-${n.deriver.name}` }),
        ...(n.ca && { ca: { type: n.ca.type, digest: toHex(n.ca.digest) } }),
      }),
    };
  }
  return out;
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { ...HELP_OPTION, ...DATA_DIR_OPTION, ...TRUSTED_KEY_OPTION, json: { type: 'boolean' } }, 'resolve');
    if (values['help']) {
      io.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`resolve: expected one KEY/NAME, got ${positionals.length} arguments`);
    const arg = positionals[0]!;
    const slash = arg.lastIndexOf('/');
    if (slash <= 0 || slash === arg.length - 1) throw new UsageError(`resolve: expected KEY/NAME, got ${JSON.stringify(arg)}`);
    const keySpec = arg.slice(0, slash);
    const name = nameArg(arg.slice(slash + 1));
    const trust = await openTrust(values);
    const { accepted, entry } = await trust.resolve(keySpec, name);
    if (entry === undefined) {
      throw new CommandExit(1, `no entry ${JSON.stringify(arg.slice(slash + 1))} in the index of ${showRootKey(accepted.root)} (sequence ${accepted.root.sequence})`, 'NOT_FOUND');
    }
    if (values['json']) {
      io.out(`${JSON.stringify({ key: showRootKey(accepted.root), sequence: accepted.root.sequence.toString(), ...entryJson(entry) })}\n`);
    } else {
      const node = entry.node;
      io.out(`${'directory' in node ? formatDigest(node.directory.digest) : 'file' in node ? formatDigest(node.file.digest) : utf8.decode(node.symlink.target)}\n`);
    }
    return 0;
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
