// The source layout's two rules, checked on every file of src/: imports point down the
// layers (verify <- store <- node <- cli), and code outside a folder imports that folder
// only through its face (index.ts). A file may import anything in its own folder or in a
// folder that contains it. One exception: src/cli/main.ts loads each command of
// src/cli/commands/ with import() when it is run, so that `castor hash` does not load
// libp2p; a face there would load them all.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'src');
const LAYERS = ['verify', 'store', 'node', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative module specifier of a file: static imports, re-exports and import(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) found.push(m[1]);
  return found;
}

const layerOf = (file: string): number => LAYERS.indexOf(path.relative(SRC, file).split(path.sep)[0]);

function violations(): string[] {
  const bad: string[] = [];
  for (const file of sources(SRC)) {
    const from = path.dirname(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const target = path.resolve(from, spec).replace(/\.js$/, '.ts');
      const where = `${path.relative(ROOT, file)} imports ${spec}`;
      if (!target.startsWith(SRC + path.sep)) { bad.push(`${where}: outside src/`); continue; }
      if (layerOf(target) > layerOf(file)) bad.push(`${where}: up the layers`);
      const dir = path.dirname(target);
      const inside = from === dir || from.startsWith(dir + path.sep);
      const lazyCommand = file === path.join(SRC, 'cli', 'main.ts') && dir === path.join(SRC, 'cli', 'commands');
      if (!inside && !lazyCommand && path.basename(target) !== 'index.ts') bad.push(`${where}: past the face of ${path.relative(ROOT, dir)}`);
    }
  }
  return bad;
}

test('src/ imports point down the layers and enter other folders through their index.ts', () => {
  assert.deepEqual(violations(), []);
});

test('the layout check sees a file of src/ and its imports', () => {
  // Guards the check itself: a walk that found nothing would pass the test above.
  const files = sources(SRC);
  assert.ok(files.length > 100, `only ${files.length} files found under ${SRC}`);
  assert.ok(specifiers(readFileSync(path.join(SRC, 'cli', 'main.ts'), 'utf8')).length > 0);
});

test('src/store keeps only its face and shared contracts outside a subfolder', () => {
  const top = readdirSync(path.join(SRC, 'store')).filter((n) => n.endsWith('.ts')).sort();
  assert.deepEqual(top, ['blob-service.ts', 'digest.ts', 'directory-service.ts', 'index.ts']);
});

test('no tampering switch in the product', () => {
  const hits = sources(SRC).filter((f) => /tamper/i.test(readFileSync(f, 'utf8')));
  assert.deepEqual(hits.map((f) => path.relative(ROOT, f)), []);
});
