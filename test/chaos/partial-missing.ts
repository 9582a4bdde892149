// Prints how many bytes of a blob a data dir does not hold yet: all of them with no
// partial download and no stored blob, none when stored, else the partial's missing groups.

import { openDataDir } from '../../src/store/disk/data-dir.js';
import { parseDigest } from '../../src/store/digest.js';
import { PartialBlob } from '../../src/store/partial/partial-blob.js';

const [dataDir, hex] = process.argv.slice(2) as [string, string];
const data = await openDataDir(dataDir);
const digest = parseDigest(hex);
const stat = await data.blobs.stat(digest);
if (stat) {
  console.log(0);
} else {
  const partial = await PartialBlob.peek(data, digest);
  console.log(partial ? partial.missingCount * partial.groupBytes : 24 << 20);
  await partial?.close();
}
