// Generated trees on disk for ingest/export tests, and a byte-exact comparison of two
// trees (names as bytes, types, executable bits, symlink targets, contents).

import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import assert from 'node:assert/strict';

const SLASH = Buffer.from('/');
export const join = (dir: Buffer | string, name: Buffer | string): Buffer => Buffer.concat([Buffer.from(dir), SLASH, Buffer.from(name)]);

/**
 * Writes the awkward cases the issue lists under `root`: empty files and dirs, deep
 * nesting, a 255-byte name, non-UTF-8 names, executables, dangling and absolute
 * symlinks, a file of several FastCDC chunks. Returns the number of regular files.
 */
export async function makeAwkwardTree(root: string): Promise<number> {
  await mkdir(root);
  let files = 0;
  const file = async (p: Buffer, data: Uint8Array, mode = 0o644): Promise<void> => {
    await writeFile(p, data);
    await chmod(p, mode);
    files++;
  };
  await file(join(root, 'empty'), new Uint8Array(0));
  await file(join(root, 'hello.txt'), Buffer.from('hello, castor\n'));
  await file(join(root, 'run.sh'), Buffer.from('#!/bin/sh\necho hi\n'), 0o755);
  await file(join(root, 'big.bin'), randomBytes(700_000));
  await mkdir(join(root, 'empty-dir'));
  let deep = join(root, 'deep');
  await mkdir(deep);
  for (let i = 0; i < 40; i++) {
    deep = join(deep, `d${i}`);
    await mkdir(deep);
  }
  await file(join(deep, 'bottom'), Buffer.from('at the bottom'));
  await file(join(root, 'n'.repeat(255)), Buffer.from('long name'));
  // Latin-1 é and a lone 0xff: not UTF-8, must round-trip as bytes.
  await file(join(root, Buffer.from([0x63, 0x61, 0x66, 0xe9])), Buffer.from('latin-1 name'));
  const odd = join(root, Buffer.from([0xff, 0x2d, 0x64, 0x69, 0x72]));
  await mkdir(odd);
  await file(join(odd, 'inside'), Buffer.from('inside a non-UTF-8 dir'), 0o700);
  await symlink('does/not/exist', join(root, 'dangling'));
  await symlink('/etc/passwd', join(root, 'absolute'));
  await symlink('hello.txt', join(root, 'relative'));
  await symlink(Buffer.from([0x2e, 0x2e, 0x2f, 0xfe]), join(root, 'odd-target'));
  return files;
}

interface Entry {
  type: 'file' | 'dir' | 'symlink';
  exec?: boolean;
  target?: string;
  content?: string;
}

/** Every entry under `root`, keyed by its relative path's bytes (hex). */
export async function snapshot(root: Buffer | string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const walk = async (dir: Buffer, rel: Buffer): Promise<void> => {
    for (const name of await readdir(dir, { encoding: 'buffer' })) {
      const p = join(dir, name);
      const r = rel.length === 0 ? Buffer.from(name) : join(rel, name);
      const st = await lstat(p);
      const key = r.toString('hex');
      if (st.isSymbolicLink()) out.set(key, { type: 'symlink', target: (await readlink(p, { encoding: 'buffer' })).toString('hex') });
      else if (st.isDirectory()) {
        out.set(key, { type: 'dir' });
        await walk(p, r);
      } else out.set(key, { type: 'file', exec: (st.mode & 0o100) !== 0, content: (await readFile(p)).toString('hex') });
    }
  };
  await walk(Buffer.from(root), Buffer.alloc(0));
  return out;
}

export async function assertSameTree(actual: Buffer | string, expected: Buffer | string): Promise<void> {
  const [a, e] = [await snapshot(actual), await snapshot(expected)];
  assert.deepEqual([...a.keys()].sort(), [...e.keys()].sort());
  for (const [k, v] of e) assert.deepEqual(a.get(k), v, `entry ${Buffer.from(k, 'hex').toString()}`);
}
