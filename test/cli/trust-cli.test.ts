// castor publish, resolve and root, as real processes: each call is a fresh start, so
// what they remember (accepted roots, rollback protection) comes from the data dir alone.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { castor } from './run-cli.js';

let tmp = '';
let pub = '';
let secret = '';
let fileDigest = '';
let dirDigest = '';

function ok(args: string[], input?: Uint8Array): string {
  const r = castor(args, input);
  assert.equal(r.status, 0, `castor ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

function fails(status: number, args: string[], pattern: RegExp, input?: Uint8Array): string {
  const r = castor(args, input);
  assert.equal(r.status, status, `castor ${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.match(r.stderr, /^castor: [^\n]*\n$/u, 'one line on stderr');
  return r.stderr;
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'castor-trust-cli-'));
  await mkdir(path.join(tmp, 'tree', 'sub'), { recursive: true });
  await writeFile(path.join(tmp, 'tree', 'sub', 'x'), 'x');
  await writeFile(path.join(tmp, 'file'), 'hello');
  ok(['key', 'generate', 'pub-1', '--out', tmp]);
  secret = path.join(tmp, 'pub-1.secret');
  pub = (await readFile(path.join(tmp, 'pub-1.public'), 'utf8')).trim();
  const added = ok(['add', '--data-dir', path.join(tmp, 'home'), path.join(tmp, 'tree'), path.join(tmp, 'file')]);
  [dirDigest, fileDigest] = added.split('\n').map((l) => l.split(/\s+/u)[0]!);
});
after(async () => { await rm(tmp, { recursive: true, force: true }); });

const home = (): string[] => ['--data-dir', path.join(tmp, 'home')];

test('publish, resolve, root show: names accumulate, are removed, and resolve to their digests', () => {
  const first = JSON.parse(ok(['publish', ...home(), '--key', secret, '--json', `tree=${dirDigest}`]));
  assert.equal(first.sequence, '1');
  assert.equal(first.key, pub);
  assert.equal(first.entries, 1);
  const second = ok(['publish', ...home(), '--key', secret, `file=${fileDigest}`, `gone=${fileDigest}`]);
  assert.match(second, /^sequence\s+2$/mu);
  ok(['publish', ...home(), '--key', secret, '--remove', 'gone']);
  assert.equal(ok(['resolve', ...home(), 'pub-1/tree']), `${dirDigest}\n`);
  assert.deepEqual(JSON.parse(ok(['resolve', ...home(), '--json', `${pub}/file`])), {
    key: pub, sequence: '3', name: 'file', type: 'file', digest: fileDigest, size: 5, executable: false,
  });
  assert.equal(JSON.parse(ok(['resolve', ...home(), '--json', 'pub-1/tree'])).type, 'directory');
  fails(1, ['resolve', ...home(), 'pub-1/gone'], /no entry "gone"/u);
  fails(1, ['resolve', ...home(), 'nobody/tree'], /no accepted root/u);
  const shown = JSON.parse(ok(['root', 'show', ...home(), '--json', 'pub-1']));
  assert.equal(shown.sequence, '3');
  assert.equal(shown.entries, 2);
  assert.equal(JSON.parse(ok(['root', 'show', ...home(), '--json'])).length, 1);
});

test('bad usage is exit 2; a digest not in the store is exit 1', () => {
  for (const cmd of [['publish'], ['resolve'], ['root'], ['root', 'show'], ['root', 'import'], ['root', 'verify'], ['root', 'export']]) {
    const r = castor([...cmd, '--help']);
    assert.equal(r.status, 0, cmd.join(' '));
    assert.match(r.stdout.toString(), /Usage/u);
  }
  fails(2, ['publish', ...home(), `x=${fileDigest}`], /--key/u);
  fails(2, ['publish', ...home(), '--key', secret, 'no-equals'], /NAME=DIGEST/u);
  fails(2, ['publish', ...home(), '--key', secret, 'x=abc'], /DIGEST/u);
  fails(2, ['publish', ...home(), '--key', secret, `a/b=${fileDigest}`], /"a\/b"/u);
  fails(2, ['publish', ...home(), '--key', secret, '--expires', 'soon'], /--expires/u);
  fails(2, ['publish', ...home(), '--key', path.join(tmp, 'pub-1.public')], /secret key/u);
  fails(1, ['publish', ...home(), '--key', secret, `x=${'0'.repeat(64)}`], /neither a directory nor a blob/u);
  fails(2, ['resolve', ...home(), 'no-slash'], /KEY\/NAME/u);
  fails(2, ['resolve', ...home(), '--trusted-key', 'garbage', 'pub-1/tree'], /--trusted-key/u);
  fails(2, ['root', 'frobnicate'], /unknown subcommand/u);
});

test('export, verify and import into another data dir, with --trusted-key or config.json', async () => {
  const bundle = path.join(tmp, 'v3.root');
  ok(['root', 'export', ...home(), 'pub-1', bundle]);
  const mirror = ['--data-dir', path.join(tmp, 'mirror')];
  fails(1, ['root', 'verify', ...mirror, bundle], /rejected \(UNTRUSTED_KEY\)/u);
  assert.match(ok(['root', 'verify', ...mirror, '--trusted-key', pub, bundle]), /^valid: pub-1:.* sequence 3, 2 entries/u);
  assert.ok(!existsSync(path.join(tmp, 'mirror')), 'verify stores nothing');
  fails(1, ['root', 'import', ...mirror, bundle], /UNTRUSTED_KEY/u);
  assert.match(ok(['root', 'import', ...mirror, '--trusted-key', path.join(tmp, 'pub-1.public')], await readFile(bundle)), /^accepted: /u);
  // The index came along; the trees did not (fetching them is the node's job), but names resolve.
  assert.equal(ok(['resolve', ...mirror, '--trusted-key', pub, 'pub-1/tree']), `${dirDigest}\n`);
  fails(1, ['resolve', ...mirror, 'pub-1/tree'], /not a trusted key/u);
  await writeFile(path.join(tmp, 'mirror', 'config.json'), JSON.stringify({ trustedKeys: [pub] }));
  assert.equal(ok(['resolve', ...mirror, 'pub-1/tree']), `${dirDigest}\n`);
  assert.match(ok(['root', 'import', ...mirror, bundle]), /^already accepted: /u);
  // Exported again from the mirror, the bundle is byte-identical.
  const again = path.join(tmp, 'again.root');
  ok(['root', 'export', ...mirror, pub, again]);
  assert.deepEqual(await readFile(again), await readFile(bundle));
});

test('rollback across restarts, equivocation kept as evidence, expiry, flipped bytes: all exit 1 and change nothing', async () => {
  const data = ['--data-dir', path.join(tmp, 'pub2')];
  const mirror = ['--data-dir', path.join(tmp, 'mirror2'), '--trusted-key', pub];
  ok(['add', ...data, path.join(tmp, 'file')]);
  ok(['publish', ...data, '--key', secret, `a=${fileDigest}`]);
  ok(['root', 'export', ...data, 'pub-1', path.join(tmp, 's1.root')]);
  ok(['publish', ...data, '--key', secret, `b=${fileDigest}`]);
  ok(['root', 'export', ...data, 'pub-1', path.join(tmp, 's2.root')]);
  ok(['root', 'import', ...mirror, path.join(tmp, 's2.root')]);
  fails(1, ['root', 'import', ...mirror, path.join(tmp, 's1.root')], /rejected \(ROLLBACK\)/u);
  fails(1, ['root', 'verify', ...mirror, path.join(tmp, 's1.root')], /ROLLBACK/u);

  // The same key, sequence 2, another index: published from a third data dir.
  const fork = ['--data-dir', path.join(tmp, 'fork')];
  ok(['add', ...fork, path.join(tmp, 'file')]);
  ok(['publish', ...fork, '--key', secret, `other=${fileDigest}`]);
  ok(['publish', ...fork, '--key', secret, `more=${fileDigest}`]);
  ok(['root', 'export', ...fork, 'pub-1', path.join(tmp, 'fork.root')]);
  const err = fails(1, ['root', 'import', ...mirror, path.join(tmp, 'fork.root')], /rejected \(EQUIVOCATION\).*evidence kept in /u);
  const evidence = /evidence kept in (\S+)/u.exec(err)![1]!;
  assert.ok(existsSync(evidence));
  assert.deepEqual(await readdir(path.join(tmp, 'mirror2', 'trust', 'evidence')), [path.basename(evidence)]);
  assert.equal(JSON.parse(ok(['root', 'show', ...mirror, '--json', 'pub-1'])).sequence, '2');

  // Expiry: a root that expires 3 s after signing. Timestamps are whole seconds, so 1 s
  // left publish itself (which checks what it signed) a fraction of a second on a busy machine.
  ok(['publish', ...data, '--key', secret, '--expires', '3s']);
  ok(['root', 'export', ...data, 'pub-1', path.join(tmp, 's3.root')]);
  await new Promise((resolve) => setTimeout(resolve, 4100));
  fails(1, ['root', 'import', ...mirror, path.join(tmp, 's3.root')], /rejected \(EXPIRED\)/u);
  fails(1, ['resolve', ...data, 'pub-1/a'], /expired/u);

  // One flipped byte anywhere in a bundle: rejected, whatever the rule that catches it.
  const good = await readFile(path.join(tmp, 's2.root'));
  for (const at of [0, 5, 40, 60, 100, 150, good.length - 70, good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at]! ^= 0x04;
    fails(1, ['root', 'verify', '--data-dir', path.join(tmp, 'nowhere'), '--trusted-key', pub], /rejected \(/u, bad);
  }
});
