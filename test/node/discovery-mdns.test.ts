// mDNS discovery, only inside a network namespace this test creates (`unshare -rn`: a user
// and network namespace of its own, whose only interface is a private loopback with
// multicast turned on), so nothing is multicast on the machine's real networks. Two
// daemons with default settings and no bootstrap peers find each other, and one fetches
// from the other by digest alone. Skipped, saying why, where namespaces are not permitted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir, tempDir } from './node-fixture.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'discovery-mdns-child.js');
// Inside the namespace: loopback up with multicast, and multicast routed to it.
const SETUP = 'ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"';

/** Why a namespace with a multicast loopback cannot be made here; undefined when it can. */
function namespaceUnavailable(): string | undefined {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', SETUP, 'true'], { encoding: 'utf8' });
  if (r.error !== undefined) return `unshare cannot run: ${r.error.message}`;
  if (r.status !== 0) return `network namespaces are not permitted here (unshare -rn: ${r.stderr.trim() || `exit ${r.status}`})`;
  return undefined;
}

test('mDNS in a private network namespace: two daemons find each other with no configuration, one fetches from the other', async (t) => {
  const why = namespaceUnavailable();
  if (why !== undefined) {
    t.skip(`mDNS test skipped: ${why}`);
    return;
  }
  const work = await tempDir('discovery-mdns');
  try {
    const r = spawnSync('unshare', ['-rn', 'sh', '-c', SETUP, process.execPath, CHILD, work], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 0, `child failed: ${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { found?: boolean; found_ms?: number; same?: boolean; fetch_status?: number; fetch_stderr?: string; error?: string; logs?: string[] };
    const logs = (result.logs ?? []).join('\n---\n');
    assert.equal(result.error, undefined, `${result.error}\n${logs}`);
    assert.equal(result.found, true, `B never connected to A through mDNS:\n${logs}`);
    assert.equal(result.fetch_status, 0, `fetch failed: ${result.fetch_stderr}\n${logs}`);
    assert.equal(result.same, true);
    assert.match(logs, /discovery: mDNS on/);
    assert.match(logs, /found on the LAN by mDNS: 12D3KooW/);
    t.diagnostic(`B connected to A ${result.found_ms} ms after A's add, through mDNS`);
  } finally {
    await removeDir(work);
  }
});
