#!/usr/bin/env node
// castor's command line: one module per command, dispatched from a table.

import { processIo } from './cli-io.js';

type Command = { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  add: { summary: 'store files and directory trees, print their digests', load: () => import('./commands/add.js') },
  get: { summary: 'recreate a stored tree or file at a path', load: () => import('./commands/get.js') },
  cat: { summary: 'write a blob (or a byte range of it) to stdout, verified', load: () => import('./commands/cat.js') },
  ls: { summary: 'list the entries of a stored tree', load: () => import('./commands/ls.js') },
  stat: { summary: 'what a digest is in the store: size, chunks, entries', load: () => import('./commands/stat.js') },
  fsck: { summary: 're-verify the whole store, quarantine what fails, clean tmp/', load: () => import('./commands/fsck.js') },
  gc: { summary: 'remove what no pin or signed root keeps', load: () => import('./commands/gc.js') },
  pin: { summary: 'add, remove and list pins (what gc keeps)', load: () => import('./commands/pin.js') },
  hash: { summary: 'BLAKE3 of files or stdin, b3sum-style', load: () => import('./commands/hash.js') },
  bao: { summary: 'encode, decode, slice and decode-slice bao streams', load: () => import('./commands/bao.js') },
  chunk: { summary: 'FastCDC 2020 cut points of a file: OFFSET LENGTH DIGEST', load: () => import('./commands/chunk.js') },
  key: { summary: 'generate ed25519 keys in Nix format, print a public key', load: () => import('./commands/key.js') },
  nix: { summary: 'Nix store paths: import, export, path-info, ls; narinfo fingerprints', load: () => import('./commands/nix.js') },
  publish: { summary: 'sign the next root of a publisher key: names set or removed', load: () => import('./commands/publish.js') },
  resolve: { summary: 'what KEY/NAME names, through an accepted signed root', load: () => import('./commands/resolve.js') },
  root: { summary: 'show, export, import and verify signed roots', load: () => import('./commands/root.js') },
  daemon: { summary: 'run the node and the control API the other commands use', load: () => import('./commands/daemon.js') },
  id: { summary: "this node's peer id and addresses", load: () => import('./commands/id.js') },
  peers: { summary: 'the peers the running daemon is connected to', load: () => import('./commands/peers.js') },
  share: { summary: 'store paths and print a ticket for each (needs a daemon)', load: () => import('./commands/share.js') },
  fetch: { summary: 'a blob or tree from peers into the store (and OUTPUT), verified', load: () => import('./commands/fetch.js') },
};

const HELP = `castor: a peer-to-peer content-addressed store (BLAKE3 blobs, bao-verified streaming)

Usage: castor COMMAND [ARGS...]   (castor COMMAND --help for details)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)}${c.summary}`).join('\n')}

Exit status: 0 success, 1 verification or I/O failure, 2 bad usage.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    processIo.out(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    processIo.out('castor 0.1.0\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    processIo.err(`castor: unknown command '${name}'\n${HELP}`);
    return 2;
  }
  return (await cmd.load()).run(rest);
}

// A reader that goes away (castor hash | head) is not an error worth a trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    processIo.err(`castor: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
