/**
 * What the dashboard shows beyond the basics, in real headless Chromium:
 * a backend's effective weight while it slow-starts, beside its weight, as
 * the API gives it; a passive ejection with its reason, end and start; refusals
 * by reason after refused connections, as /metrics counts them; the queue's
 * length while a client waits in it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { parseCidr } from '../../src/config/cidr.ts';
import { makeConfig, makeService, type ServiceConfig } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { startDemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { launch, noBrowser, openPage } from '../helpers/browser.ts';
import { closed, dial, httpGet, readBytes, refusedPort } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';
import { backendAt } from '../helpers/proxy.ts';

const T = { timeout: 60_000, skip: noBrowser };

async function start(t: TestContext, service: Partial<Omit<ServiceConfig, 'passive'>> & { passive?: Partial<ServiceConfig['passive']> }) {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const lb = await Fulcrum.start(
    makeConfig({ admin: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', services: [makeService({ name: 'web', listen: { host: '127.0.0.1', port: 0 }, backends: [backendAt(echo.address.port)], health: { intervalMs: 0 }, ...service })] }),
  );
  t.after(() => lb.destroy());
  const browser = await launch(t);
  const watched = await openPage(browser, `http://127.0.0.1:${lb.adminAddress.port}/`);
  return { lb, echo, api: adminClient(lb.adminAddress), port: lb.service('web')!.address!.port, ...watched };
}

test('slow start: the row shows the effective weight the API gives, beside the weight, and marks it', T, async (t) => {
  const { api, page, errors } = await start(t, { slowStartMs: 60_000 });
  const extra = await startDemoBackend('extra');
  t.after(() => extra.close());
  const address = `127.0.0.1:${extra.address.port}`;
  const registered = await api.post('/services/web/register', { address, weight: 10 });
  assert.equal(registered.status, 200);
  // The first tenth of a 60 s ramp: 5% of 10.
  const { body } = await api.get(`/services/web/backends/${registered.body.data.backend.id}`);
  assert.deepEqual([body.data.backend.weight, body.data.backend.effectiveWeight], [10, 0.5]);
  const row = page.locator(`section[data-service="web"] tr[data-address="${address}"][data-warming]`);
  await row.waitFor({ timeout: 3000 });
  assert.equal(await row.locator('td[data-col="effectiveWeight"]').textContent(), '0.5');
  assert.equal(await row.locator('td[data-col="weight"] .weight').textContent(), '10');
  // The backend the service started with is not slow-started (HAProxy does not at boot): no mark.
  const first = page.locator('section[data-service="web"] tbody tr').first();
  assert.equal(await first.getAttribute('data-warming'), null);
  assert.equal(await first.locator('td[data-col="effectiveWeight"]').textContent(), '1');
  assert.deepEqual(errors, []);
});

test('an ejected backend: why, until when and since when, as the API gives them', T, async (t) => {
  const { api, port, page } = await start(t, { retries: 1, passive: { maxFails: 3, ejectBaseMs: 60_000, maxEjectedPercent: 50 } });
  const address = `127.0.0.1:${await refusedPort()}`;
  const { body } = await api.post('/services/web/register', { address });
  const id = body.data.backend.id;
  // Real traffic: every connection that picks the refusing backend fails over to the echo one; the third failure ejects it.
  const detail = await until('the API says it is ejected', async () => {
    await httpGet(port).catch(() => '');
    const b = (await api.get(`/services/web/backends/${id}`)).body.data.backend;
    return b.health === 'down' ? b.healthDetail : undefined;
  }, 10_000);
  assert.equal(detail.reason, 'ejected: 3 consecutive connect failures (last: ECONNREFUSED)');
  assert.equal(detail.ejections, 1);
  const clock = (iso: string) => page.evaluate((ms) => new Date(ms).toLocaleTimeString([], { hour12: false }), Date.parse(iso));
  const row = page.locator(`section[data-service="web"] tr[data-address="${address}"][data-health="down"][data-ejected]`);
  await row.waitFor({ timeout: 3000 });
  const expected = `${detail.reason} · until ${await clock(detail.ejectedUntil)} · since ${await clock(detail.since)}`;
  await row.locator('td[data-col="health"]').filter({ hasText: expected }).waitFor({ timeout: 2000 });
  assert.match((await row.locator('td[data-col="health"]').textContent()) ?? '', /^ejected: .* \(\d+ s\)$/);
  assert.equal(await row.locator('td[data-col="ejections"]').textContent(), '1');
});

/** Connects from `localAddress` and waits until the balancer closes the connection unanswered. */
async function refused(port: number, localAddress: string): Promise<void> {
  const c = await dial({ port, localAddress });
  c.on('error', () => {});
  const end = closed(c);
  c.write('ping');
  await end;
}

async function echoed(port: number, localAddress: string): Promise<Socket> {
  const c = await dial({ port, localAddress });
  c.on('error', () => {}); // reset when the balancer is destroyed after the test
  c.write('hi');
  assert.equal((await readBytes(c, 2)).toString(), 'hi');
  return c;
}

test('refusals by reason appear after refused connections, as /metrics counts them; the queue shows who waits', T, async (t) => {
  const { lb, port, page, errors } = await start(t, {
    deny: [parseCidr('deny', '127.0.0.2/32')],
    limits: { maxConnectionsPerIp: 1, connectionRatePerIp: undefined },
    maxConnections: 1,
    queue: { size: 4, timeoutMs: 60_000 },
  });
  const service = page.locator('section[data-service="web"]');
  await service.locator('.rejections').filter({ hasText: 'refused: none' }).waitFor({ timeout: 5000 });
  assert.equal(await service.locator('.queue').textContent(), 'queue 0/4');

  // 127.0.0.3 holds the service's one slot; a second from it is over its per-IP limit.
  const holder = await echoed(port, '127.0.0.3');
  t.after(() => holder.destroy());
  await refused(port, '127.0.0.3');
  await refused(port, '127.0.0.2');
  await refused(port, '127.0.0.2');
  // 127.0.0.4 waits in the queue for the slot.
  const waiting = await dial({ port, localAddress: '127.0.0.4' });
  waiting.on('error', () => {});
  t.after(() => waiting.destroy());
  waiting.write('hi');

  await service.locator('.queue[data-length="1"]').waitFor({ timeout: 3000 });
  assert.match((await service.locator('.queue').textContent()) ?? '', /^queue 1\/4 \(oldest [\d.]+ s\)$/);
  const chip = (reason: string) => service.locator(`.rejections .chip[data-reason="${reason}"]`);
  await chip('denied').filter({ hasText: 'denied 2' }).waitFor({ timeout: 3000 });
  assert.equal(await chip('per-ip-connections').textContent(), 'per-ip-connections 1');
  assert.equal(await service.locator('.rejections .chip').count(), 2, 'reasons never hit are not shown');
  const metrics = (await adminClient(lb.adminAddress).get('/metrics')).text;
  for (const [reason, n] of [['denied', 2], ['per-ip-connections', 1], ['queue-full', 0]] as const) {
    assert.match(metrics, new RegExp(`^fulcrum_connections_rejected_total\\{service="web",reason="${reason}"\\} ${n}$`, 'm'));
  }

  // The slot frees: the waiting client is served and the queue empties on the page.
  holder.destroy();
  assert.equal((await readBytes(waiting, 2)).toString(), 'hi');
  await service.locator('.queue[data-length="0"]').waitFor({ timeout: 3000 });
  assert.deepEqual(errors, []);
});
