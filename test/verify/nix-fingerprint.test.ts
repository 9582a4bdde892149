// narinfo fingerprints against real cache.nixos.org narinfos and their Sig: lines.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CastorError } from '../../src/verify/errors.js';
import { generateKeyPair, parsePublicKey, parseSecretKey, publicKeyOf } from '../../src/verify/keys.js';
import {
  narinfoFingerprint, nix32Decode, nix32Encode, normalizeNarHash, parseFingerprint, signFingerprint, verifyFingerprint,
} from '../../src/verify/nix-fingerprint.js';

const CACHE_NIXOS_ORG = parsePublicKey('cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=');
// tvix nix-compat/src/narinfo/verifying_keys.rs test case `test_1`: signs CURL below.
const TEST1 = parsePublicKey('test1:tLAEn+EeaBUJYqEpTd2yeerr7Ic6+0vWe+aXL/vYUpE=');

// Real narinfos served by cache.nixos.org, copied verbatim from tvix
// (github:tvlfyi/tvix at 6932a578c901c922e279ac3df96e9bd7a6d60a8c).

// nix-compat/src/narinfo/fingerprint.rs, NARINFO_STR. Its fingerprint is also spelled out there.
const CURL = `StorePath: /nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin
URL: nar/05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56.nar.xz
Compression: xz
FileHash: sha256:05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56
FileSize: 68852
NarHash: sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0
NarSize: 196040
References: 0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0 6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115 j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12 yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n
Deriver: 5rwxzi7pal3qhpsyfc16gzkh939q1np6-curl-7.82.0.drv
Sig: cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==
Sig: test1:519iiVLx/c4Rdt5DNt6Y2Jm6hcWE9+XY69ygiWSZCNGVcmOcyL64uVAJ3cV8vaTusIZdbTnYo9Y7vDNeTmmMBQ==
`;
const CURL_FP = '1;/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin;sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0;196040;/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0,/nix/store/6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115,/nix/store/j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12,/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n';

// nix-compat/src/narinfo/mod.rs, test `nar_hash_hex`: an old narinfo whose NarHash is hex.
// The signature only verifies if the fingerprint re-prints it as nix32, as Nix does.
const PERL_HEX = `StorePath: /nix/store/0vpqfxbkx0ffrnhbws6g9qwhmliksz7f-perl-HTTP-Cookies-6.01
URL: nar/1rv1m9inydm1r4krw8hmwg1hs86d0nxddd1pbhihx7l7fycjvfk3.nar.xz
Compression: xz
FileHash: sha256:1rv1m9inydm1r4krw8hmwg1hs86d0nxddd1pbhihx7l7fycjvfk3
FileSize: 19912
NarHash: sha256:60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3
NarSize: 45840
References: 0vpqfxbkx0ffrnhbws6g9qwhmliksz7f-perl-HTTP-Cookies-6.01 9vrhbib2lxd9pjlg6fnl5b82gblidrcr-perl-HTTP-Message-6.06 wy20zslqxzxxfpzzk0rajh41d7a6mlnf-perl-HTTP-Date-6.02
Deriver: fb4ihlq3psnsjq95mvvs49rwpplpc8zj-perl-HTTP-Cookies-6.01.drv
Sig: cache.nixos.org-1:HhaiY36Uk3XV1JGe9d9xHnzAapqJXprU1YZZzSzxE97jCuO5RR7vlG2kF7MSC5thwRyxAtdghdSz3AqFi+QSCw==
`;

// nix-compat/testdata/narinfo.zst (978 cache.nixos.org narinfos; all of them verify
// with this code): one without references, one that references itself.
const NO_REFS = `StorePath: /nix/store/0kv6yzf2lc076lizlr71w0h3ybkyn76k-widestring-1.0.2
URL: nar/0dckfbiyby4kx22p24sgcyry14dwf6p6392332m9pxv6wcgqhnfv.nar.xz
Compression: xz
FileHash: sha256:0dckfbiyby4kx22p24sgcyry14dwf6p6392332m9pxv6wcgqhnfv
FileSize: 54228
NarHash: sha256:1ivxf9rbqvdmddj04323n2xf2i1v1c2vyjzc80i88162xkk2bzrc
NarSize: 551552
References: 
Deriver: ypsbjfyqhik6mvvhj740xhlk9wkhk7z0-widestring-1.0.2.drv
Sig: cache.nixos.org-1:j5gQmwcPO+LUgO4GC0qPiZke4bGDaeVe5AIB4RYQy6tdMENM88n57sALQFgtbAcNQS8aerHixYLJJqLJ4Dg+Bg==
`;
const SELF_REF = `StorePath: /nix/store/0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf
URL: nar/0i1dmr7f1pliycq471wfgifwrkbii2ky9gb35zsvv46ld1rl2m2c.nar.xz
Compression: xz
FileHash: sha256:0i1dmr7f1pliycq471wfgifwrkbii2ky9gb35zsvv46ld1rl2m2c
FileSize: 3020
NarHash: sha256:1bb3srw3x77mnck1gk0cbnf1a9915fdrqdjb27y7rxmmlrb3dzjw
NarSize: 11408
References: 0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf arsnax0avamwiml7qrwn9wzbic33pyk9-polkit-0.113 c6y19ffnw8zv1w2vbb5liphzz8ac8kyn-system-path ldr92ws27avm6xhb3j7w8dqfpk5d26vw-upower-0.99.4 mzdwg3964jg5wq24vdf0w7l2nz6i6kp4-udisks-2.1.6 xq39as86nvdny7616p6rbb3n41ab5aan-dbus-1.10.14
Deriver: lzydd5cyykz34jpbchk6psv23kgmx1f2-dbus-conf.drv
Sig: cache.nixos.org-1:gegnOA5CqLYaCIgcQ843KvfYZBzn2cKGzC2hcSrZHRt4Nj+uJaVNV06iARZ39zJtbnuyq7+5KCPcl3zB0hoyBA==
`;

/** Just enough narinfo parsing for the test: References are base names, so prefix the store dir. */
function narinfo(text: string): { fp: string; refs: string[]; sigs: string[]; f: Map<string, string> } {
  const f = new Map<string, string>();
  const sigs: string[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i < 0) continue;
    if (line.slice(0, i) === 'Sig') sigs.push(line.slice(i + 2));
    else f.set(line.slice(0, i), line.slice(i + 2));
  }
  const storePath = f.get('StorePath')!;
  const storeDir = storePath.slice(0, storePath.lastIndexOf('/'));
  const refs = f.get('References')!.split(' ').filter((r) => r !== '').map((r) => `${storeDir}/${r}`);
  return { fp: narinfoFingerprint(storePath, f.get('NarHash')!, Number(f.get('NarSize')), refs), refs, sigs, f };
}

test('real narinfo: fingerprint as tvix spells it, cache.nixos.org-1 and test1 Sig: lines verify', () => {
  const { fp, sigs } = narinfo(CURL);
  assert.equal(fp, CURL_FP);
  assert.equal(sigs.length, 2);
  assert.equal(verifyFingerprint(fp, sigs[0]!, [CACHE_NIXOS_ORG]), true);
  assert.equal(verifyFingerprint(fp, sigs[1]!, [CACHE_NIXOS_ORG, TEST1]), true);
  assert.equal(verifyFingerprint(fp, sigs[1]!, [CACHE_NIXOS_ORG]), false, 'no key named test1');
  // tvix's wrong_name_mismatch: right bytes, wrong name.
  assert.equal(verifyFingerprint(fp, sigs[0]!.replace('cache.nixos.org-1:', 'cache.nixos.org:'), [CACHE_NIXOS_ORG]), false);
  // The name selects the key: the right bytes under a key of another name do not count.
  assert.equal(verifyFingerprint(fp, sigs[0]!, [{ ...CACHE_NIXOS_ORG, name: 'other' }]), false);
  assert.equal(verifyFingerprint(fp, sigs[0]!, []), false);
});

test('real narinfos: hex NarHash, no references, self-reference all verify', () => {
  for (const text of [PERL_HEX, NO_REFS, SELF_REF]) {
    const { fp, sigs } = narinfo(text);
    assert.equal(verifyFingerprint(fp, sigs[0]!, [CACHE_NIXOS_ORG]), true, fp);
  }
  assert.match(narinfo(PERL_HEX).fp, /;sha256:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0;45840;/u);
  assert.ok(narinfo(NO_REFS).fp.endsWith(';551552;'), 'empty reference list leaves a trailing ";"');
});

test('a flipped byte anywhere in the fingerprint or signature fails', () => {
  const sig = narinfo(CURL).sigs[0]!;
  for (let i = 0; i < CURL_FP.length; i++) {
    const c = CURL_FP.charCodeAt(i);
    const bad = CURL_FP.slice(0, i) + String.fromCharCode(c ^ 0x01) + CURL_FP.slice(i + 1);
    assert.equal(verifyFingerprint(bad, sig, [CACHE_NIXOS_ORG]), false, `fp char ${i}`);
  }
  const colon = sig.indexOf(':');
  const raw = Buffer.from(sig.slice(colon + 1), 'base64');
  for (let i = 0; i < raw.length; i++) {
    const bad = Buffer.from(raw);
    bad[i]! ^= 0x80;
    assert.equal(verifyFingerprint(CURL_FP, `${sig.slice(0, colon)}:${bad.toString('base64')}`, [CACHE_NIXOS_ORG]), false, `sig byte ${i}`);
  }
  assert.equal(verifyFingerprint(`${CURL_FP},`, sig, [CACHE_NIXOS_ORG]), false);
});

test('malformed signature text throws MALFORMED_SIGNATURE rather than returning false', () => {
  for (const bad of ['', 'cache.nixos.org-1', 'cache.nixos.org-1:', ':AAAA', 'cache.nixos.org-1:TsTT']) {
    assert.throws(() => verifyFingerprint(CURL_FP, bad, [CACHE_NIXOS_ORG]), (e: unknown) => e instanceof CastorError && e.code === 'MALFORMED_SIGNATURE');
  }
});

test('references: order and duplicates do not matter (Nix keeps a sorted set)', () => {
  const { refs, f } = narinfo(SELF_REF);
  const shuffled = [...refs].reverse().concat(refs[2]!);
  const fp = narinfoFingerprint(f.get('StorePath')!, f.get('NarHash')!, 11408, shuffled);
  assert.equal(fp, narinfo(SELF_REF).fp);
});

test('narHash forms: nix32, hex, SRI and raw bytes give the same fingerprint', () => {
  const nix32 = 'sha256:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0';
  const bytes = new Uint8Array(Buffer.from('60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3', 'hex'));
  assert.equal(nix32Encode(bytes), nix32.slice(7));
  assert.deepEqual(nix32Decode(nix32.slice(7), 32), bytes);
  for (const form of [nix32, 'sha256:60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3', `sha256-${Buffer.from(bytes).toString('base64')}`, bytes]) {
    assert.equal(normalizeNarHash(form), nix32);
  }
  // 52 nix32 digits carry 260 bits: a leading digit above 1 overflows 32 bytes; Nix rejects it.
  assert.equal(nix32Decode(`2${nix32.slice(8)}`, 32), undefined);
  assert.equal(nix32Decode(`e${nix32.slice(8)}`, 32), undefined, "'e' is not a nix32 digit");
  for (const bad of ['', 'sha256:', 'sha1:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0', `2${nix32.slice(8)}`, 'sha256:60ADFD293A4D81AD7CD7E47263CBB3FC846309EF91B154A08BA672B558F94FF3', 'sha256-AAAA', new Uint8Array(20)]) {
    assert.throws(() => normalizeNarHash(bad), (e: unknown) => e instanceof CastorError && e.code === 'INVALID_INPUT');
  }
});

test('narinfoFingerprint refuses inputs Nix would not fingerprint or that would be ambiguous', () => {
  const sp = '/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin';
  const h = 'sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0';
  const cases: Array<() => unknown> = [
    () => narinfoFingerprint(sp, h, 0, []), // Nix: size unknown
    () => narinfoFingerprint(sp, h, -1, []),
    () => narinfoFingerprint(sp, h, 1.5, []),
    () => narinfoFingerprint('syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin', h, 1, []),
    () => narinfoFingerprint('/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl;x', h, 1, []),
    () => narinfoFingerprint('/nix/store/eyd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl', h, 1, []),
    () => narinfoFingerprint(sp, h, 1, ['0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0']), // base name, not a path
    () => narinfoFingerprint(sp, h, 1, ['/gnu/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0']),
    () => narinfoFingerprint(sp, h, 1, ['/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-a,b']),
  ];
  for (const c of cases) assert.throws(c, (e: unknown) => e instanceof CastorError && e.code === 'INVALID_INPUT');
  assert.equal(narinfoFingerprint(sp, h, 2n ** 64n, []), `1;${sp};${h};18446744073709551616;`);
});

test('parseFingerprint accepts exactly canonical fingerprints', () => {
  const p = parseFingerprint(CURL_FP);
  assert.equal(p.storePath, '/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin');
  assert.equal(p.narSize, 196040n);
  assert.equal(p.references.length, 4);
  assert.equal(parseFingerprint(narinfo(NO_REFS).fp).references.length, 0);
  const unsorted = CURL_FP.replace(/;([^;]*)$/u, (_m, refs: string) => `;${refs.split(',').reverse().join(',')}`);
  for (const bad of ['', '1;', '2;a;b;c;d', CURL_FP.replace(';196040;', ';0196040;'), unsorted, narinfo(PERL_HEX).fp.replace('sha256:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0', 'sha256:60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3')]) {
    assert.throws(() => parseFingerprint(bad), (e: unknown) => e instanceof CastorError && e.code === 'INVALID_INPUT', bad);
  }
});

test('sign then verify: generated key and the tvix test key', () => {
  const { secret, public: pub } = generateKeyPair('castor.example-1');
  const sig = signFingerprint(secret, CURL_FP);
  assert.match(sig, /^castor\.example-1:[A-Za-z0-9+/]{86}==$/u);
  assert.equal(verifyFingerprint(CURL_FP, sig, [CACHE_NIXOS_ORG, pub]), true);
  assert.equal(verifyFingerprint(CURL_FP.replace('196040', '196041'), sig, [pub]), false);
  // tvix narinfo/mod.rs test `sign`: DUMMY_KEYPAIR signs, DUMMY_VERIFYING_KEY verifies.
  const dummy = parseSecretKey('cache.example.com-1:cCta2MEsRNuYCgWYyeRXLyfoFpKhQJKn8gLMeXWAb7vIpRKKo/3JoxJ24OYa3DxT2JVV38KjK/1ywHWuMe2JEw==');
  const dummyPub = parsePublicKey('cache.example.com-1:yKUSiqP9yaMSduDmGtw8U9iVVd/Coyv9csB1rjHtiRM=');
  assert.deepEqual(publicKeyOf(dummy), dummyPub);
  const fp = narinfoFingerprint('/nix/store/0vpqfxbkx0ffrnhbws6g9qwhmliksz7f-perl-HTTP-Cookies-6.01', 'sha256:0h1bm4sj1cnfkxgyhvgi8df1qavnnv94sd0v09wcrm971602shfg', 22552, []);
  assert.equal(verifyFingerprint(fp, signFingerprint(dummy, fp), [dummyPub]), true);
});
