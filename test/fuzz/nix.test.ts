// Fuzzing the Nix decoders: readNar over damaged and random NARs (lengths of 2^40 and
// more among the damage), parseNarinfo over damaged narinfo text, and raw HTTP requests
// (random methods, targets, headers, bodies, sent with node:net) to a running
// `castor daemon --http`. Each must end in events or a typed error, or, for HTTP, a
// 2xx/4xx answer or a close; after each batch the daemon still answers
// GET /nix-cache-info. Bounded in npm test (FUZZ_RUNS), many more in `npm run fuzz`.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { formatNarinfo, parseNarinfo, readNar, signPathInfo, STORE_DIR } from '../../src/store/index.js';
import { generateKeyPair, nix32Encode } from '../../src/verify/index.js';
import { arbChunking, arbNarTree, chunked, narOf, str } from '../store/nix/nar-fixture.js';
import {
  type CacheDaemon, httpRequest, makePath, narUrlOf, randomHashPart, sampler, smallTree, startCacheDaemon, testNixKey, type MadePath, uploadPath,
} from '../load/cache-daemon.js';
import { arbMutation, concat, FUZZ_RUNS, params, typedOutcome, typedOutcomeAsync } from './fuzz-config.js';

/** Damage a NAR's own way: a length word (8-byte aligned) replaced by a huge u64 (2^32 to 2^64 - 1). */
function arbHugeLength(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const words = Math.max(1, Math.floor(valid.length / 8));
  return fc.tuple(fc.nat({ max: words - 1 }), fc.bigInt({ min: 1n << 32n, max: (1n << 64n) - 1n })).map(([w, v]) => {
    const out = Uint8Array.from(valid);
    if (out.length >= (w + 1) * 8) new DataView(out.buffer).setBigUint64(w * 8, v, true);
    return out;
  });
}

/** Consumes a NAR; returns the events, checking that nothing it yields outgrows the input. */
async function drainNar(nar: Uint8Array, sizes: number[]): Promise<number> {
  let events = 0;
  let data = 0;
  for await (const e of readNar(chunked(nar, sizes))) {
    events++;
    if (e.kind === 'data') data += e.bytes.length;
    if (e.kind === 'entry') assert.ok(e.name.length <= 255, 'entry name over 255 bytes');
    if (e.kind === 'symlink') assert.ok(e.target.length <= 4095, 'symlink target over 4095 bytes');
  }
  // Every data byte is a byte of the input: no allocation follows a claimed length.
  assert.ok(data <= nar.length, `${data} data bytes from a ${nar.length}-byte NAR`);
  return events;
}

test('readNar: valid NARs in any chunking give their events', async (t) => {
  await fc.assert(fc.asyncProperty(arbNarTree(), arbChunking(), async (tree, sizes) => {
    assert.ok((await drainNar(narOf(tree), sizes)) > 0);
  }), params(t, Math.max(10, Math.floor(FUZZ_RUNS / 10))));
});

test('readNar: damaged NARs (flips, cuts, inserts, 2^40-and-up lengths) and random bytes give events or a typed error', async (t) => {
  const damaged = fc.tuple(arbNarTree(), fc.boolean()).chain(([tree, huge]) => {
    const nar = narOf(tree);
    return huge ? arbHugeLength(nar) : arbMutation(nar);
  });
  const random = fc.uint8Array({ maxLength: 512 }).map((b) => (b.length % 2 === 0 ? concat(str('nix-archive-1'), b) : b));
  // Chunk sizes from 1 byte up: the valid-NAR property covers byte-by-byte feeding; here the damage is the point.
  const chunking = fc.oneof(fc.constant([1 << 30] as number[]), fc.array(fc.integer({ min: 1, max: 8192 }), { minLength: 1, maxLength: 4 }));
  await fc.assert(fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: damaged }, { weight: 1, arbitrary: random }), chunking, async (nar, sizes) => {
    await typedOutcomeAsync(() => drainNar(nar, sizes));
  }), params(t));
});

// narinfo material: random PathInfos, signed or not, printed by formatNarinfo.
const signer = generateKeyPair('fuzz-nix-1');
const ANY_SIGNATURE = signPathInfo({ storePath: `${STORE_DIR}/${'0'.repeat(32)}-x`, narHash: new Uint8Array(32), narSize: 1, references: [], signatures: [] }, signer.secret).signatures[0]!;
const arbHashPart = fc.array(fc.constantFrom(...'0123456789abcdfghijklmnpqrsvwxyz'), { minLength: 32, maxLength: 32 }).map((a) => a.join(''));
const arbName = fc.stringMatching(/^[a-z0-9+_?=-][a-z0-9.+_?=-]{0,30}$/u);
const arbStorePath = fc.tuple(arbHashPart, arbName).map(([h, n]) => `${STORE_DIR}/${h}-${n}`);
const arbNarinfoText = fc.record({
  storePath: arbStorePath,
  narHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  narSize: fc.integer({ min: 1, max: 2 ** 40 }),
  references: fc.uniqueArray(arbStorePath, { maxLength: 4 }),
  deriver: fc.option(arbStorePath.map((p) => `${p}.drv`), { nil: undefined }),
  signed: fc.boolean(),
  ca: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((h) => `fixed:r:sha256:${nix32Encode(h)}`), { nil: undefined }),
  compression: fc.constantFrom('none', 'xz', 'zstd', 'bzip2', 'br') as fc.Arbitrary<'none' | 'xz' | 'zstd' | 'bzip2' | 'br'>,
  fileSize: fc.option(fc.nat(), { nil: undefined }),
}).map((r) => {
  const base = { storePath: r.storePath, narHash: r.narHash, narSize: r.narSize, references: r.references, signatures: [] as string[], ...(r.deriver !== undefined && { deriver: r.deriver }), ...(r.ca !== undefined && { ca: r.ca }) };
  // One real signature made once: the parser checks its syntax, not what it signs (signing each case costs more than parsing it).
  const info = r.signed ? { ...base, signatures: [ANY_SIGNATURE] } : base;
  return formatNarinfo({ ...info, url: `nar/${nix32Encode(r.narHash)}.nar`, compression: r.compression, ...(r.fileSize !== undefined && { fileSize: r.fileSize }) });
});

/** Damage at the line level: a line dropped, doubled, its value or name replaced, lines joined, CRLF. */
function arbLineDamage(text: string): fc.Arbitrary<string> {
  const lines = text.slice(0, -1).split('\n');
  const at = fc.nat({ max: lines.length - 1 });
  const junk = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('', ' ', '0', '-1', '18446744073709551616', 'sha256:', 'sha256:xyz', 'unknown-deriver', ':', 'a: b'));
  const edit = (f: (ls: string[]) => void): string[] => { const ls = [...lines]; f(ls); return ls; };
  return fc.oneof(
    at.map((i) => edit((ls) => ls.splice(i, 1))),
    at.map((i) => edit((ls) => ls.splice(i, 0, ls[i]!))),
    fc.tuple(at, junk).map(([i, v]) => edit((ls) => { const c = ls[i]!.indexOf(': '); ls[i] = `${ls[i]!.slice(0, c + 2)}${v}`; })),
    fc.tuple(at, junk).map(([i, v]) => edit((ls) => { const c = ls[i]!.indexOf(': '); ls[i] = `${v}${ls[i]!.slice(c)}`; })),
    at.map((i) => edit((ls) => { if (i + 1 < ls.length) ls.splice(i, 2, `${ls[i]!}${ls[i + 1]!}`); })),
  ).map((ls) => `${ls.join('\n')}\n`).chain((t) => fc.oneof(fc.constant(t), fc.constant(t.replace(/\n/gu, '\r\n')), fc.constant(t.slice(0, -1))));
}

test('parseNarinfo: damaged narinfo text gives a Narinfo that prints back to itself, or a typed error', (t) => {
  const enc = new TextEncoder();
  const input = fc.oneof(
    arbNarinfoText.map((s) => enc.encode(s)),
    arbNarinfoText.chain(arbLineDamage).map((s) => enc.encode(s)),
    arbNarinfoText.chain((s) => arbMutation(enc.encode(s))),
    fc.uint8Array({ maxLength: 600 }),
  );
  fc.assert(fc.property(input, (bytes) => {
    const got = typedOutcome(() => parseNarinfo(bytes));
    if (!(got instanceof Error)) {
      const text = formatNarinfo(got);
      assert.equal(formatNarinfo(parseNarinfo(text)), text);
    }
  }), params(t));
});


// --- raw HTTP against a running daemon -------------------------------------------------

/** Requests sent at once per batch; after each batch GET /nix-cache-info must answer 200. */
const BATCH = 8;
/** A request that is neither answered nor closed within this long counts as a hang. */
const HANG_MS = 25_000;

let work: string;
let daemon: CacheDaemon;
let held: MadePath;
let heldNarUrl = '';
const statusesSeen = new Map<number, number>();
let closedUnanswered = 0;

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'castor-fuzz-http-'));
  const key = testNixKey('castor-fuzz-1');
  daemon = await startCacheDaemon(path.join(work, 'data'), ['--trusted-nix-key', key.publicText]);
  held = makePath(smallTree(1, 3, 20_000), key.secret, 'fuzz-held');
  await uploadPath(daemon.url, held);
  const info = await httpRequest(daemon.url, 'GET', `/${held.hashPart}.narinfo`);
  assert.equal(info.status, 200);
  heldNarUrl = narUrlOf(info.body.toString());
});

after(async () => {
  await daemon?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

interface RawRequest { method: string; target: string; version: string; headers: [string, string][]; body: Uint8Array; eol: string }

function arbTarget(): fc.Arbitrary<string> {
  const valid = fc.constantFrom('/nix-cache-info', () => `/${held.hashPart}.narinfo`, () => heldNarUrl, () => `/${held.uploadUrl}`,
    () => `/${randomHashPart()}.narinfo`, '/nar/', '/', '*', '/nar/x.nar.xz', '/nix-cache-info?x=1', '/../../etc/passwd', 'http://127.0.0.1/nix-cache-info');
  const resolved = valid.map((v) => (typeof v === 'function' ? v() : v));
  return fc.oneof(
    { weight: 8, arbitrary: resolved },
    { weight: 3, arbitrary: fc.tuple(resolved, fc.nat({ max: 120 }), fc.string({ maxLength: 6 })).map(([v, i, s]) => `${v.slice(0, i)}${s}${v.slice(i + s.length)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s) => `/${s}`) },
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 20_000 }).map((n) => `/${'a'.repeat(n)}.narinfo`) },
  );
}

function arbHeader(): fc.Arbitrary<[string, string]> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom<[string, string]>(['Host', '127.0.0.1'], ['Connection', 'close'], ['Connection', 'keep-alive'], ['Expect', '100-continue'],
      ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'gzip, chunked'], ['Content-Type', 'application/x-nix-nar'], ['Content-Type', 'text/x-nix-narinfo'],
      ['Content-Length', '-1'], ['Content-Length', 'abc'], ['Content-Length', '99999999999999999999'], ['Range', 'bytes=0-10'], ['Accept-Encoding', 'xz']) },
    { weight: 2, arbitrary: fc.nat({ max: 2 ** 40 }).map((n): [string, string] => ['Content-Length', String(n)]) },
    { weight: 2, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/u), fc.stringMatching(/^[ -~]{0,40}$/u)).map(([k, v]): [string, string] => [k, v]) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 40 })).map(([k, v]): [string, string] => [k, v]) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 30_000 }).map((n): [string, string] => ['X-Big', 'x'.repeat(n)]) },
  );
}

function arbBody(): fc.Arbitrary<Uint8Array> {
  const enc = new TextEncoder();
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
    { weight: 1, arbitrary: fc.constant(0).map(() => held.nar) },
    { weight: 1, arbitrary: fc.constant(0).map(() => enc.encode(held.narinfo)) },
    { weight: 1, arbitrary: fc.constant(0).chain(() => arbMutation(held.nar)) },
    { weight: 1, arbitrary: fc.constant(0).chain(() => arbLineDamage(held.narinfo).map((s) => enc.encode(s))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => enc.encode(`${b.length.toString(16)}\r\n${Buffer.from(b).toString('latin1')}\r\n0\r\n\r\n`)) },
  );
}

/** Anything: odd methods, versions, line ends, headers that disagree with the body. */
const arbWildRequest: fc.Arbitrary<RawRequest> = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT') },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/u) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
  target: fc.constant(0).chain(() => arbTarget()),
  version: fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', '', 'HTTP/9') }),
  // node:http answers 400 to an HTTP/1.1 request without Host (as Nix always sends it): most requests have one.
  headers: fc.tuple(fc.oneof({ weight: 9, arbitrary: fc.constant([['Host', '127.0.0.1']] as [string, string][]) }, { weight: 1, arbitrary: fc.constant([] as [string, string][]) }),
    fc.array(arbHeader(), { maxLength: 4 })).map(([h, rest]) => [...h, ...rest]),
  body: fc.constant(0).chain(() => arbBody()),
  eol: fc.oneof({ weight: 6, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
});

/** Well-formed HTTP/1.1 as Nix sends it (Host, a Content-Length that is the body's), with cache targets whole or damaged. */
const arbSaneRequest: fc.Arbitrary<RawRequest> = fc.record({
  method: fc.constantFrom('GET', 'GET', 'HEAD', 'PUT', 'PUT', 'POST'),
  target: fc.constant(0).chain(() => arbTarget()).map((t) => (t.startsWith('/') ? t : `/${t}`)),
  extra: fc.array(fc.constantFrom<[string, string]>(['Expect', '100-continue'], ['Content-Type', 'application/x-nix-nar'], ['Content-Type', 'text/x-nix-narinfo'], ['Connection', 'close'], ['Connection', 'keep-alive']), { maxLength: 2 }),
  body: fc.constant(0).chain(() => arbBody()),
}).map(({ method, target, extra, body }): RawRequest => ({
  method, target, version: 'HTTP/1.1', eol: '\r\n', body,
  headers: [['Host', '127.0.0.1'], ...extra, ...(body.length > 0 || method === 'PUT' ? [['Content-Length', String(body.length)] as [string, string]] : [])],
}));

const arbRequest: fc.Arbitrary<RawRequest> = fc.oneof({ weight: 3, arbitrary: arbSaneRequest }, { weight: 2, arbitrary: arbWildRequest });

function encodeRequest(r: RawRequest): Buffer {
  const head = `${r.method} ${r.target} ${r.version}${r.eol}${r.headers.map(([k, v]) => `${k}: ${v}${r.eol}`).join('')}${r.eol}`;
  return Buffer.concat([Buffer.from(head, 'latin1'), r.body]);
}

/** Sends one raw request, half-closes, and waits for the server to answer and/or close. */
function sendRaw(base: string, bytes: Buffer): Promise<{ answer: string; closed: boolean }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = net.connect(Number(url.port), url.hostname, () => socket.end(bytes));
    const done = (closed: boolean): void => { clearTimeout(timer); socket.destroy(); resolve({ answer: Buffer.concat(parts).toString('latin1'), closed }); };
    const timer = setTimeout(() => done(false), HANG_MS);
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('close', () => done(true));
    socket.on('error', () => { /* a reset after (or instead of) the answer: 'close' follows */ });
  });
}

/** Every status line in `answer` (a 100 Continue may come before the final one). */
function statuses(answer: string): number[] {
  // At a line start: an answer's body here is text, or a NAR that holds no such line.
  return [...answer.matchAll(/(?:^|\n)HTTP\/1\.[01] (\d{3}) [^\r\n]*\r\n/gu)].map((m) => Number(m[1]));
}

test('HTTP: random raw requests to castor daemon --http each get a 2xx/4xx answer or a close; /nix-cache-info answers after each batch', async (t) => {
  const rss = sampler(daemon.pid, 500);
  let requests = 0;
  try {
    await fc.assert(fc.asyncProperty(fc.array(arbRequest, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      const results = await Promise.all(batch.map((r) => sendRaw(daemon.url, encodeRequest(r))));
      requests += batch.length;
      results.forEach((res, i) => {
        const what = `${JSON.stringify(encodeRequest(batch[i]!).subarray(0, 200).toString('latin1'))}`;
        if (res.answer.length === 0) {
          assert.ok(res.closed, `neither answered nor closed within ${HANG_MS} ms: ${what}`);
          closedUnanswered++;
          return;
        }
        const got = statuses(res.answer);
        assert.ok(got.length > 0, `not an HTTP answer: ${JSON.stringify(res.answer.slice(0, 200))} to ${what}`);
        for (const s of got) {
          statusesSeen.set(s, (statusesSeen.get(s) ?? 0) + 1);
          assert.ok(s === 100 || (s >= 200 && s < 300) || (s >= 400 && s < 500), `status ${s} to ${what}: ${JSON.stringify(res.answer.slice(0, 300))}`);
        }
      });
      const info = await httpRequest(daemon.url, 'GET', '/nix-cache-info', undefined, HANG_MS);
      assert.equal(info.status, 200);
      assert.match(info.body.toString(), /^StoreDir: \/nix\/store$/mu);
    }), params(t, Math.max(4, Math.ceil(FUZZ_RUNS / BATCH))));
  } finally {
    rss.stop();
    t.diagnostic(`${requests} requests in batches of ${BATCH}; statuses ${[...statusesSeen].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ')}; closed unanswered ${closedUnanswered}; daemon peak RSS ${Math.round(rss.peakRssKiB() / 1024)} MiB, fds ${rss.samples.at(-1)?.fds ?? '?'}`);
  }
  // The path uploaded before the fuzzing still renders to its NarHash.
  const nar = await httpRequest(daemon.url, 'GET', heldNarUrl, undefined, HANG_MS);
  assert.equal(nar.status, 200);
  assert.ok(Buffer.from(nar.body).equals(Buffer.from(held.nar)));
});
