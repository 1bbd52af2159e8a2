/**
 * GET /metrics: valid Prometheus text, and counters that match the traffic
 * the test sent, byte for byte.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { closed, dial, httpGet, readAll, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import type { Fulcrum } from '../../src/fulcrum.ts';
import { parseProm } from '../helpers/prom.ts';

const T = { timeout: 15_000 };

async function scrape(lb: Fulcrum) {
  const res = await adminClient(lb.adminAddress).get('/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const families = parseProm(res.text);
  /** The value of `name` for `backend` (or the service-wide one) in the `default` service; undefined when there is no such series. */
  return (name: string, backend?: string) => {
    const f = families.get(name);
    assert.ok(f, `no metric ${name}`);
    const s = f.samples.find((x) => x.labels.backend === backend);
    if (s) assert.deepEqual(Object.keys(s.labels).sort(), backend === undefined ? ['service'] : ['backend', 'service'], `${name}: labels`);
    if (s) assert.equal(s.labels.service, 'default');
    return s?.value;
  };
}

/**
 * The proxy counts bytes when a connection ends on its side, which the client
 * cannot see: poll, bounded, until only `open` connections remain.
 */
async function settled(lb: Fulcrum, open = 0): Promise<void> {
  const deadline = Date.now() + 3000;
  while (lb.registry.list().reduce((n, b) => n + b.active, 0) !== open) {
    assert.ok(Date.now() < deadline, 'connections still open on the proxy');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function demo(t: TestContext, name: string): Promise<DemoBackend> {
  const b = await startDemoBackend(name);
  t.after(() => b.close());
  return b;
}

test('/metrics: per-backend and global series match 5 echoed connections exactly', T, async (t) => {
  const echo = await demo(t, 'echo');
  const lb = await startProxy(t, { backends: [backendAt(echo.address.port, 3)] });
  const key = `127.0.0.1:${echo.address.port}`;
  let sent = 0;
  for (let i = 1; i <= 5; i++) {
    const payload = Buffer.alloc(1000 * i, 0x41 + i);
    const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
    const back = readAll(client);
    client.end(payload);
    assert.equal((await back).length, payload.length);
    sent += payload.length;
  }
  await settled(lb);
  const m = await scrape(lb);
  assert.equal(m('fulcrum_backend_connections_total', key), 5);
  assert.equal(m('fulcrum_backend_bytes_in_total', key), sent);
  assert.equal(m('fulcrum_backend_bytes_out_total', key), sent);
  assert.equal(m('fulcrum_backend_active_connections', key), 0);
  assert.equal(m('fulcrum_backend_connect_failures_total', key), 0);
  assert.equal(m('fulcrum_backend_up', key), 1);
  assert.equal(m('fulcrum_backend_weight', key), 3);
  assert.equal(m('fulcrum_connections_accepted_total'), 5);
  assert.equal(m('fulcrum_connections_no_backend_total'), 0);
  assert.equal(m('fulcrum_panic_picks_total'), 0);
  assert.equal(m('fulcrum_retries_total'), 0);
  assert.equal(m('fulcrum_idle_timeouts_total'), 0);
  assert.equal(m('fulcrum_health_flips_total'), 0);
  assert.equal(m('fulcrum_passive_ejections_total'), 0);
  assert.equal(m('fulcrum_backends_ready'), 1);
  assert.equal(sent, 15_000);
});

test('/metrics: an open connection is active; failures, retries, ejection, panic and no-backend are counted', T, async (t) => {
  const good = await demo(t, 'good');
  const badPort = await refusedPort();
  const lb = await startProxy(t, { backends: [backendAt(badPort), backendAt(good.address.port)], retries: 1, passive: { maxFails: 1, ejectBaseMs: 60_000 } });
  const bad = `127.0.0.1:${badPort}`;
  const goodKey = `127.0.0.1:${good.address.port}`;
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(lb.proxyAddress.port)).trim(), 'hello from good');
  const open = await dial({ port: lb.proxyAddress.port });
  open.write('x');
  await new Promise((r) => open.once('data', r));
  await settled(lb, 1);
  let m = await scrape(lb);
  assert.equal(m('fulcrum_backend_connect_failures_total', bad), 1);
  assert.equal(m('fulcrum_backend_connections_total', bad), 0);
  assert.equal(m('fulcrum_backend_up', bad), 0);
  assert.equal(m('fulcrum_backend_connections_total', goodKey), 4);
  assert.equal(m('fulcrum_backend_active_connections', goodKey), 1);
  assert.equal(m('fulcrum_retries_total'), 1);
  assert.equal(m('fulcrum_health_flips_total'), 1);
  assert.equal(m('fulcrum_passive_ejections_total'), 1);
  assert.equal(m('fulcrum_connections_accepted_total'), 4);
  assert.equal(m('fulcrum_backends_ready'), 1);
  const gone = closed(open);
  open.destroy();
  await gone;

  // Deregister the good one (its one connection ended above): its series go, and the bad one, down and alone, is tried in panic.
  const del = await adminClient(lb.adminAddress).post('/deregister', { address: goodKey });
  assert.equal(del.status, 200);
  const client = await dial({ port: lb.proxyAddress.port });
  await readAll(client).catch(() => {});
  m = await scrape(lb);
  assert.equal(m('fulcrum_backend_connections_total', goodKey), undefined);
  assert.equal(m('fulcrum_backend_up', goodKey), undefined);
  assert.equal(m('fulcrum_backend_connect_failures_total', bad), 2);
  assert.equal(m('fulcrum_panic_picks_total'), 1);
  assert.equal(m('fulcrum_connections_no_backend_total'), 1);
  assert.equal(m('fulcrum_connections_accepted_total'), 5);
  assert.equal(m('fulcrum_backends_ready'), 0);
});

test('/metrics: idle timeouts are counted', T, async (t) => {
  const echo = await demo(t, 'echo');
  const lb = await startProxy(t, { backends: [backendAt(echo.address.port)], idleTimeoutMs: 100 });
  const client = await dial({ port: lb.proxyAddress.port });
  await closed(client);
  const m = await scrape(lb);
  assert.equal(m('fulcrum_idle_timeouts_total'), 1);
  assert.equal(m('fulcrum_connections_accepted_total'), 1);
});

test('/metrics: label values are escaped (IPv6 and host names as registered)', T, async (t) => {
  const lb = await startProxy(t);
  const api = adminClient(lb.adminAddress);
  assert.equal((await api.post('/register', { address: '[::1]:9001', weight: 2 })).status, 200);
  assert.equal((await api.post('/register', { address: 'backend.internal:80' })).status, 200);
  const m = await scrape(lb);
  assert.equal(m('fulcrum_backend_weight', '[::1]:9001'), 2);
  assert.equal(m('fulcrum_backend_weight', 'backend.internal:80'), 1);
  assert.equal(m('fulcrum_backend_up', '[::1]:9001'), 1);
});
