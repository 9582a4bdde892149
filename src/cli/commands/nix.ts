// `castor nix`: Nix store paths in the data dir (import, export, path-info, ls) and
// narinfo fingerprints (sign-fingerprint, verify-fingerprint). One file per subcommand
// under nix/.

import { type Io, processIo, reportError, UsageError } from '../cli-io.js';
import { exportCmd, importCmd, lsCmd, pathInfoCmd, signCmd, verifyCmd } from './nix/index.js';

const SUBCOMMANDS: Record<string, { summary: string; run: (argv: string[], io: Io) => Promise<number> }> = {
  import: { summary: 'store paths from a NAR file or a binary cache (with their closure)', run: importCmd },
  export: { summary: "a held path's NAR, checked against its narHash", run: exportCmd },
  'path-info': { summary: 'narHash, narSize, references, signatures, CA of held paths', run: pathInfoCmd },
  ls: { summary: 'every store path held', run: lsCmd },
  'sign-fingerprint': { summary: 'sign a narinfo fingerprint', run: signCmd },
  'verify-fingerprint': { summary: 'check a narinfo signature', run: verifyCmd },
};

const USAGE = `usage: castor nix SUBCOMMAND [ARGS...]   (castor nix SUBCOMMAND --help for details)

Nix store paths kept as castore trees with their PathInfo (narHash, narSize,
references, deriver, signatures, CA), and narinfo fingerprints.

${Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(20)}${c.summary}`).join('\n')}

  castor nix import --from CACHE_URL STOREPATH... [--trusted-nix-key KEY] [--no-check-sigs]
  castor nix import NAR (--narinfo FILE | --store-path STOREPATH) [...]
  castor nix export STOREPATH [OUTPUT]
  castor nix path-info STOREPATH... [-r] [--json]
  castor nix ls [--json]
  castor nix sign-fingerprint FINGERPRINT --key SECRET_FILE
  castor nix verify-fingerprint FINGERPRINT SIG PUBLIC_KEY...

Exit status: 0 success, 1 refused, not held, verification or I/O failure, 2 bad usage.
`;

/** Run `castor nix ...`; `argv` is what follows the word `nix`. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === '--help' || sub === '-h' || sub === 'help') { io.out(USAGE); return 0; }
    if (sub === undefined) throw new UsageError(`nix: missing subcommand (${Object.keys(SUBCOMMANDS).join(', ')}); see castor nix --help`);
    const cmd = SUBCOMMANDS[sub];
    if (cmd === undefined) throw new UsageError(`nix: unknown subcommand '${sub}'; see castor nix --help`);
    return await cmd.run(rest, io);
  } catch (err: unknown) {
    return reportError(err, io);
  }
}
