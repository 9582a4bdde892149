// Child process for the PathInfo store's crash test: puts one path again and again, each
// time with one more signature, printing the count after each put has returned, until killed.

import { FsLayout } from '../../../src/store/fs/index.js';
import { PathInfoStore, signPathInfo, type PathInfo } from '../../../src/store/nix/index.js';
import { generateKeyPair } from '../../../src/verify/index.js';

const [root, json] = process.argv.slice(2) as [string, string];
const raw = JSON.parse(json) as { storePath: string; narHash: string; narSize: number; node: { digest: string; size: string } };
let info: PathInfo = {
  storePath: raw.storePath,
  narHash: new Uint8Array(Buffer.from(raw.narHash, 'hex')),
  narSize: raw.narSize,
  references: [],
  signatures: [],
  node: { directory: { name: new Uint8Array(0), digest: new Uint8Array(Buffer.from(raw.node.digest, 'hex')), size: BigInt(raw.node.size) } },
};
const store = new PathInfoStore(new FsLayout(root));
for (let i = 1; ; i++) {
  info = signPathInfo(info, generateKeyPair(`k${i}`).secret);
  await store.put(info, { noCheckSigs: true });
  process.stdout.write(`${i}\n`);
}
