// A small run of test/load/load.ts in npm test: ten fetches of one blob at once from a real
// `castor daemon --http`, and forty concurrent narinfo/NAR requests to its binary cache.
// Each completes verified or is told busy / 4xx; none hangs; the daemon's RSS stays bounded
// and it still answers afterwards. `npm run load` runs the full size (50 and 200).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLoadTable, MAX_RSS_MIB, runLoad, type LoadOptions } from './load.js';

test('fetchers and narinfo/NAR clients at once against one daemon: completed or busy, none hangs, RSS bounded', { timeout: 600_000 }, async (t) => {
  const o: LoadOptions = { clients: 2, perClient: 5, blobBytes: 2 << 20, paths: 4, requests: 40, maxFileBytes: 64 * 1024, deadlineMs: 240_000 };
  const r = await runLoad(o);
  for (const line of formatLoadTable(o, r).split('\n')) t.diagnostic(line);
  assert.deepEqual([...r.fetch.examples, ...r.http.examples], []);
  assert.equal(r.fetch.hung + r.http.hung, 0, 'a fetch or request hung');
  assert.equal(r.fetch.other + r.http.other, 0);
  assert.equal(r.fetch.ok + r.fetch.busy, o.clients * o.perClient);
  assert.ok(r.fetch.ok > 0, 'no fetch completed');
  // Every request names a path the daemon holds: nothing but 200 or a busy 503 is right.
  assert.equal(r.http.client4xx, 0);
  assert.equal(r.http.ok + r.http.busy, o.requests);
  assert.ok(r.http.ok > 0);
  assert.ok(r.fetch.peakRssMiB < MAX_RSS_MIB && r.http.peakRssMiB < MAX_RSS_MIB, `daemon peak RSS ${r.fetch.peakRssMiB.toFixed(0)} / ${r.http.peakRssMiB.toFixed(0)} MiB`);
  assert.equal(r.daemonAlive, true);
});
