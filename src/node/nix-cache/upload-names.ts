// Which path each uploaded NAR name became (`nar/<FileHash>.nar.xz` -> hash part), kept
// in the data dir (nix/nar-names/<name>, the hash part as text): the client that uploaded
// keeps the narinfo naming that file in its own cache, and asks for it by that name long
// after. A name whose path is gone is simply not found.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkHashPart, fsError, isNotFound } from '../../store/index.js';

export class UploadNames {
  #ready = false;
  constructor(readonly dir: string) {}

  /** Remembers that the NAR uploaded as `name` (a checked NAR file name) is the path `hashPart`'s. */
  async record(name: string, hashPart: string): Promise<void> {
    if (!this.#ready) {
      await mkdir(this.dir, { recursive: true });
      this.#ready = true;
    }
    const file = path.join(this.dir, name);
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(tmp, hashPart);
      await rename(tmp, file);
    } catch (err: unknown) {
      throw fsError(err, file, 'writing');
    }
  }

  /** The hash part recorded for `name`, or undefined. */
  async lookup(name: string): Promise<string | undefined> {
    const file = path.join(this.dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err: unknown) {
      if (isNotFound(err)) return undefined;
      throw fsError(err, file, 'reading');
    }
    try {
      return checkHashPart(text);
    } catch {
      return undefined; // a damaged record names nothing
    }
  }
}
