/**
 * passive.maxEjectedPercent: with four backends that all refuse and 50%,
 * real traffic ejects two and no more; the refused ejections are counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient } from '../helpers/admin-client.ts';
import { dial, closed, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

test('with 4 backends and maxEjectedPercent 50, at most 2 are ejected passively', { timeout: 15_000 }, async (t) => {
  const ports = [await refusedPort(), await refusedPort(), await refusedPort(), await refusedPort()];
  const lb = await startProxy(t, {
    backends: ports.map((p) => backendAt(p)),
    retries: 3,
    passive: { maxFails: 1, ejectBaseMs: 60_000, maxEjectedPercent: 50 },
  });
  // Each client tries every backend (1 + 3 retries) and is closed: every backend fails several times.
  for (let i = 0; i < 6; i++) {
    const socket = await dial({ port: lb.proxyAddress.port });
    await closed(socket);
  }
  const backends = lb.registry.list();
  const now = Date.now();
  const ejected = backends.filter((b) => b.ejectedUntil > now);
  assert.equal(ejected.length, 2);
  // The two left in failed again and again (maxFails 1 would have ejected each at its first failure).
  assert.ok(backends.filter((b) => b.ejectedUntil <= now).every((b) => b.failed >= 2), `failures: ${backends.map((b) => b.failed)}`);
  assert.equal(backends.filter((b) => b.health === 'down').length, 2);
  const api = adminClient(lb.adminAddress);
  const listed = (await api.get('/backends')).body.data.backends as any[];
  assert.equal(listed.filter((b) => b.healthDetail.ejectedUntil !== null).length, 2);
  for (const b of listed.filter((x) => x.healthDetail.ejectedUntil !== null)) {
    assert.ok(Date.parse(b.healthDetail.ejectedUntil) > now + 50_000, 'the end time of a 60 s ejection');
  }
  const metrics = (await api.get('/metrics')).text;
  const capped = Number(/fulcrum_passive_ejections_capped_total\{service="default"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(capped >= 1, `capped ${capped}`);
  assert.match(metrics, /fulcrum_passive_ejections_total\{service="default"\} 2\n/);
});
