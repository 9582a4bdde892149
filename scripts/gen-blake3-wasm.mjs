// Generates the WebAssembly SIMD BLAKE3 kernel (4 chunks or 4 parents per call, one per
// i32x4 lane) as WAT, assembles it with wabt and writes src/verify/blake3/wasm-binary.ts.
//
// Usage: node scripts/gen-blake3-wasm.mjs [--wat out.wat]   (npm run gen:wasm)
//
// Exports of the generated module (all pointers are byte offsets into "memory"):
//   chunks(in, n, ctrLo, ctrHi, key, flags, out)
//     CVs of n whole 1024-byte chunks at `in`, chunk counters ctr, ctr+1, ... (64-bit,
//     given as two words). Writes 32 bytes per chunk to `out`; when n is not a multiple
//     of 4 it writes up to 3 extra CVs of garbage after them, so `out` needs room for
//     n rounded up to a multiple of 4.
//   parents(in, n, key, flags, out)
//     n parent CVs; parent i's block is the 64 bytes at in + 64*i. `flags` must already
//     include PARENT. Same room rule for `out`.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outPath = join(root, 'src/verify/blake3/wasm-binary.ts');

// Kept in step with src/verify/blake3/constants.ts (a .mjs script cannot import the TS source).
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const CHUNK_START = 1, CHUNK_END = 2;
const SCHEDULE = (() => {
  const rounds = [];
  let cur = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    rounds.push(cur);
    cur = PERM.map((p) => cur[p]);
  }
  return rounds;
})();

const get = (x) => `(local.get $${x})`;
const set = (x, e) => `(local.set $${x} ${e})`;
const add = (a, b) => `(i32x4.add ${a} ${b})`;
const xor = (a, b) => `(v128.xor ${a} ${b})`;
const i32 = (v) => `(i32.const ${v | 0})`;
const splat = (e) => `(i32x4.splat ${e})`;
const range = (n) => Array.from({ length: n }, (_, i) => i);
const bytes = (idx) => idx.join(' ');

// Byte-index masks: rotating a little-endian 32-bit word right by 16 or 8 bits is a byte
// permutation within each lane. Used with i8x16.swizzle from a local that holds a constant,
// which V8 compiles to a single pshufb with the mask kept in a register.
const ROT16 = range(16).map((i) => (i & ~3) | ((i + 2) & 3));
const ROT8 = range(16).map((i) => (i & ~3) | ((i + 1) & 3));

/** Rotate right by 12 or 7: no byte-granular shortcut, so two shifts and an or. */
function rotShift(x, n) {
  return set(x, `(v128.or (i32x4.shr_u (local.tee $t ${get(x)}) ${i32(n)}) (i32x4.shl ${get('t')} ${i32(32 - n)}))`);
}

/**
 * One round: the four column G's, then the four diagonal G's. The four G's of each half are
 * emitted step-interleaved so their independent dependency chains sit side by side (V8
 * hardly reorders wasm). On a Zen core this measured the same as G after G, since the
 * out-of-order window covers it; it is kept for narrower cores.
 */
function round(sched) {
  const halves = [
    [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]],
    [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]],
  ];
  const out = [];
  halves.forEach((gs, h) => {
    const S = (i) => `s${i}`;
    const mx = (g) => `m${sched[h * 8 + g * 2]}`;
    const my = (g) => `m${sched[h * 8 + g * 2 + 1]}`;
    const step = (f) => gs.forEach((abcd, g) => out.push(f(abcd.map(S), g)));
    step(([a, b], g) => set(a, add(add(get(a), get(b)), get(mx(g)))));
    step(([a, , , d]) => set(d, `(i8x16.swizzle ${xor(get(d), get(a))} ${get('rot16')})`));
    step(([, , c, d]) => set(c, add(get(c), get(d))));
    step(([, b, c]) => set(b, xor(get(b), get(c))));
    step(([, b]) => rotShift(b, 12));
    step(([a, b], g) => set(a, add(add(get(a), get(b)), get(my(g)))));
    step(([a, , , d]) => set(d, `(i8x16.swizzle ${xor(get(d), get(a))} ${get('rot8')})`));
    step(([, , c, d]) => set(c, add(get(c), get(d))));
    step(([, b, c]) => set(b, xor(get(b), get(c))));
    step(([, b]) => rotShift(b, 7));
  });
  return out;
}

/**
 * Transposes the 4x4 word matrix rows a,b,c,d (row = one lane's four consecutive words)
 * into dst[0..3] (dst[j] = word j of every lane). The shuffle patterns are the ones V8
 * matches to punpck{l,h}dq / punpck{l,h}qdq.
 */
function transpose(rows, dst) {
  const [a, b, c, d] = rows;
  const lo32 = bytes([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]);
  const hi32 = bytes([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]);
  const lo64 = bytes([...range(8), ...range(8).map((i) => 16 + i)]);
  const hi64 = bytes([...range(8).map((i) => 8 + i), ...range(8).map((i) => 24 + i)]);
  return [
    set('x0', `(i8x16.shuffle ${lo32} ${a} ${b})`),
    set('x1', `(i8x16.shuffle ${hi32} ${a} ${b})`),
    set('x2', `(i8x16.shuffle ${lo32} ${c} ${d})`),
    set('x3', `(i8x16.shuffle ${hi32} ${c} ${d})`),
    set(dst[0], `(i8x16.shuffle ${lo64} ${get('x0')} ${get('x2')})`),
    set(dst[1], `(i8x16.shuffle ${hi64} ${get('x0')} ${get('x2')})`),
    set(dst[2], `(i8x16.shuffle ${lo64} ${get('x1')} ${get('x3')})`),
    set(dst[3], `(i8x16.shuffle ${hi64} ${get('x1')} ${get('x3')})`),
  ];
}

/** Loads one 64-byte block per lane (lane i at $p<i> + $off) into m0..m15, transposed. */
function loadMessage() {
  const out = [];
  for (let q = 0; q < 4; q++) {
    const rows = range(4).map((l) => `(v128.load offset=${16 * q} align=1 (i32.add ${get(`p${l}`)} ${get('off')}))`);
    out.push(...transpose(rows, range(4).map((j) => `m${4 * q + j}`)));
  }
  return out;
}

/** Compresses the block in m0..m15 into cv0..cv7 (s12..s15 = counter lo/hi, block length, flags). */
function compressBody(ctrLo, ctrHi, flagsExpr) {
  const out = [];
  for (let i = 0; i < 8; i++) out.push(set(`s${i}`, get(`cv${i}`)));
  for (let i = 0; i < 4; i++) out.push(set(`s${8 + i}`, splat(i32(IV[i]))));
  out.push(set('s12', ctrLo), set('s13', ctrHi), set('s14', splat(i32(64))), set('s15', splat(flagsExpr)));
  for (const sched of SCHEDULE) out.push(...round(sched));
  for (let i = 0; i < 8; i++) out.push(set(`cv${i}`, xor(get(`s${i}`), get(`s${8 + i}`))));
  return out;
}

/** Writes cv0..cv7 back as four lanes of 32 bytes each at $out. */
function storeCvs() {
  const out = [];
  for (let h = 0; h < 2; h++) {
    const rows = range(4).map((j) => get(`cv${4 * h + j}`));
    out.push(...transpose(rows, ['y0', 'y1', 'y2', 'y3']));
    for (let l = 0; l < 4; l++) out.push(`(v128.store offset=${32 * l + 16 * h} align=4 ${get('out')} ${get(`y${l}`)})`);
  }
  return out;
}

function v128Locals(names) {
  return names.map((n) => `(local $${n} v128)`).join(' ');
}

const COMMON_LOCALS = v128Locals([
  ...range(16).map((i) => `s${i}`), ...range(16).map((i) => `m${i}`), ...range(8).map((i) => `cv${i}`),
  't', 'x0', 'x1', 'x2', 'x3', 'y0', 'y1', 'y2', 'y3', 'rot16', 'rot8',
]);

function prologue() {
  const out = [
    set('rot16', `(v128.const i8x16 ${bytes(ROT16)})`),
    set('rot8', `(v128.const i8x16 ${bytes(ROT8)})`),
  ];
  for (let i = 0; i < 8; i++) out.push(set(`cv${i}`, splat(`(i32.load offset=${4 * i} ${get('key')})`)));
  return out;
}

const chunk4 = `
  ;; Four whole chunks, lane i at $p<i>; writes four CVs to $out. $lo/$hi: lane 0's counter.
  (func $chunk4 (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32)
                (param $lo i32) (param $hi i32) (param $key i32) (param $flags i32) (param $out i32)
    ${COMMON_LOCALS} (local $ctrLo v128) (local $ctrHi v128) (local $off i32) (local $f i32)
    ${prologue().join('\n    ')}
    ;; Per-lane 64-bit counters: a lane whose low word wrapped below lane 0's carries one into
    ;; its high word (lt_u yields -1 there, so subtracting it adds 1).
    ${set('ctrLo', add(splat(get('lo')), '(v128.const i32x4 0 1 2 3)'))}
    ${set('ctrHi', `(i32x4.sub ${splat(get('hi'))} (i32x4.lt_u ${get('ctrLo')} ${splat(get('lo'))}))`)}
    ${set('f', `(i32.or ${get('flags')} ${i32(CHUNK_START)})`)}
    (loop $blocks
      ${loadMessage().join('\n      ')}
      ${compressBody(get('ctrLo'), get('ctrHi'), `(i32.or ${get('f')} (select ${i32(CHUNK_END)} ${i32(0)} (i32.eq ${get('off')} ${i32(960)})))`).join('\n      ')}
      ${set('f', get('flags'))}
      ${set('off', `(i32.add ${get('off')} ${i32(64)})`)}
      (br_if $blocks (i32.lt_u ${get('off')} ${i32(1024)})))
    ${storeCvs().join('\n    ')})`;

const parent4 = `
  ;; Four parents, lane i's 64-byte block at $p<i>; writes four CVs to $out.
  (func $parent4 (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32)
                 (param $key i32) (param $flags i32) (param $out i32)
    ${COMMON_LOCALS} (local $off i32)
    ${prologue().join('\n    ')}
    ${loadMessage().join('\n    ')}
    ${compressBody('(v128.const i32x4 0 0 0 0)', '(v128.const i32x4 0 0 0 0)', get('flags')).join('\n    ')}
    ${storeCvs().join('\n    ')})`;

// The drivers loop in wasm so a call from JS costs one crossing however many chunks it
// covers. A tail of 1..3 items runs through the same 4-lane code with the spare lanes
// pointed at item 0: they read valid memory and their CVs land in the room after `out`.
const drivers = `
  (func (export "chunks") (param $in i32) (param $n i32) (param $lo i32) (param $hi i32)
                          (param $key i32) (param $flags i32) (param $out i32)
    (local $ctr i64)
    (local.set $ctr (i64.or (i64.shl (i64.extend_i32_u (local.get $hi)) (i64.const 32)) (i64.extend_i32_u (local.get $lo))))
    (block $done
      (loop $groups
        (br_if $done (i32.lt_u (local.get $n) (i32.const 4)))
        (call $chunk4 (local.get $in) (i32.add (local.get $in) (i32.const 1024))
                      (i32.add (local.get $in) (i32.const 2048)) (i32.add (local.get $in) (i32.const 3072))
                      (i32.wrap_i64 (local.get $ctr)) (i32.wrap_i64 (i64.shr_u (local.get $ctr) (i64.const 32)))
                      (local.get $key) (local.get $flags) (local.get $out))
        (local.set $in (i32.add (local.get $in) (i32.const 4096)))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $ctr (i64.add (local.get $ctr) (i64.const 4)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $groups)))
    (if (local.get $n)
      (then
        (call $chunk4 (local.get $in)
                      (select (i32.add (local.get $in) (i32.const 1024)) (local.get $in) (i32.gt_u (local.get $n) (i32.const 1)))
                      (select (i32.add (local.get $in) (i32.const 2048)) (local.get $in) (i32.gt_u (local.get $n) (i32.const 2)))
                      (local.get $in)
                      (i32.wrap_i64 (local.get $ctr)) (i32.wrap_i64 (i64.shr_u (local.get $ctr) (i64.const 32)))
                      (local.get $key) (local.get $flags) (local.get $out)))))

  (func (export "parents") (param $in i32) (param $n i32) (param $key i32) (param $flags i32) (param $out i32)
    (block $done
      (loop $groups
        (br_if $done (i32.lt_u (local.get $n) (i32.const 4)))
        (call $parent4 (local.get $in) (i32.add (local.get $in) (i32.const 64))
                       (i32.add (local.get $in) (i32.const 128)) (i32.add (local.get $in) (i32.const 192))
                       (local.get $key) (local.get $flags) (local.get $out))
        (local.set $in (i32.add (local.get $in) (i32.const 256)))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $groups)))
    (if (local.get $n)
      (then
        (call $parent4 (local.get $in)
                       (select (i32.add (local.get $in) (i32.const 64)) (local.get $in) (i32.gt_u (local.get $n) (i32.const 1)))
                       (select (i32.add (local.get $in) (i32.const 128)) (local.get $in) (i32.gt_u (local.get $n) (i32.const 2)))
                       (local.get $in)
                       (local.get $key) (local.get $flags) (local.get $out)))))`;

const wat = `;; Generated by scripts/gen-blake3-wasm.mjs. Do not edit.
(module
  (memory (export "memory") 1)
${chunk4}
${parent4}
${drivers})
`;

const watArg = process.argv.indexOf('--wat');
if (watArg > 0 && process.argv[watArg + 1]) writeFileSync(process.argv[watArg + 1], wat);

const wabt = await require('wabt')();
const mod = wabt.parseWat('blake3.wat', wat, { simd: true });
mod.validate();
const { buffer } = mod.toBinary({});
mod.destroy();
const b64 = Buffer.from(buffer).toString('base64');

const ts = `// The WebAssembly SIMD BLAKE3 kernel as base64, so installing castor needs no toolchain.
// GENERATED by scripts/gen-blake3-wasm.mjs (npm run gen:wasm): do not edit by hand.

export const BLAKE3_WASM_BASE64 = '${b64}';
`;
writeFileSync(outPath, ts);
console.log(`wrote ${outPath}: ${buffer.length} bytes of wasm, ${wat.length} chars of WAT`);
