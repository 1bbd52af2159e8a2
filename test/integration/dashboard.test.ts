/**
 * The dashboard in real headless Chromium: it loads with no console error
 * and no CSP violation, lists the backends of two services, shows a killed
 * backend as down within 2 s of the API saying so, drains one with a click,
 * shows the API's refusal of weight 0; and with a token, works once the token
 * is entered while the API still refuses requests without it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { launch, noBrowser, openPage } from '../helpers/browser.ts';
import { backendAt } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000, skip: noBrowser };
const loopback = { host: '127.0.0.1', port: 0 };
// A refused probe fails at once, so a long timeout does not slow the kill's detection; a short one let a
// loaded machine (a probe's callbacks held up past 200 ms) flip a live backend down for "timeout after 200ms".
const health = { intervalMs: 200, timeoutMs: 1000, rise: 1, fall: 1 };

async function start(t: TestContext, adminToken?: string) {
  const backends = await Promise.all(['web-1', 'web-2', 'cache-1'].map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const [w1, w2, c1] = backends as [DemoBackend, DemoBackend, DemoBackend];
  const config = makeConfig({
    admin: loopback,
    ...(adminToken !== undefined && { adminToken }),
    services: [
      makeService({ name: 'web', listen: loopback, algo: 'round-robin', backends: [backendAt(w1.address.port), backendAt(w2.address.port)], health }),
      makeService({ name: 'cache', listen: loopback, algo: 'least-connections', backends: [backendAt(c1.address.port)], health }),
    ],
  });
  const lb = await Fulcrum.start(config);
  t.after(() => lb.destroy());
  const base = `http://127.0.0.1:${lb.adminAddress.port}`;
  // The token's UTF-8 bytes, one char each: fetch() sends a header value's chars as bytes (as the page does).
  const wire = adminToken === undefined ? undefined : Buffer.from(adminToken, 'utf8').toString('latin1');
  return { lb, base, w1, w2, c1, api: adminClient(lb.adminAddress, wire) };
}

const row = (service: string, address: string) => `section[data-service="${service}"] tr[data-address="${address}"]`;

test('the page lists both services, shows a kill within 2 s, drains with a click, shows the API\'s refusal of weight 0', T, async (t) => {
  const { lb, base, w1, w2, c1, api } = await start(t);
  const browser = await launch(t);
  const { page, errors, violations } = await openPage(browser, `${base}/`);
  const addr = (b: DemoBackend) => `127.0.0.1:${b.address.port}`;

  // Both services, every backend, as the API lists them.
  for (const [service, b] of [['web', w1], ['web', w2], ['cache', c1]] as const) {
    await page.waitForSelector(`${row(service, addr(b))}[data-health="up"]`, { timeout: 5000 });
  }
  assert.equal(await page.locator('section[data-service="web"] tbody tr').count(), 2);
  assert.equal(await page.locator('section[data-service="cache"] tbody tr').count(), 1);
  assert.equal(await page.locator('section[data-service="cache"] .algo').textContent(), 'least-connections');
  assert.deepEqual(errors, [], 'the page loads with no console error');
  assert.deepEqual(await violations(), [], 'and no CSP violation');

  // A killed backend: down on the page, with the API's reason and since when, within 2 s of the API saying so.
  const flips = async () => Number((await page.locator(row('cache', addr(c1))).getAttribute('data-flips')) ?? 0);
  const flipsBefore = await flips();
  const killed = Date.now();
  await c1.close();
  const detail = await until('the API says the cache backend is down', async () => {
    const { body } = await api.get('/services/cache/backends');
    return body.data.backends[0].health === 'down' ? body.data.backends[0].healthDetail : undefined;
  });
  const apiSaidDown = Date.now();
  assert.equal(detail.reason, 'active check failed: connection refused (ECONNREFUSED)');
  const since = Date.parse(detail.since);
  assert.ok(since >= killed - 1 && since <= apiSaidDown, `down since ${detail.since}`);
  const healthCell = page.locator(`${row('cache', addr(c1))}[data-health="down"] td[data-col="health"]`);
  await healthCell.filter({ hasText: `down: ${detail.reason}` }).waitFor({ timeout: 2000 });
  assert.ok(Date.now() - apiSaidDown <= 2000);
  // The row changed colour on the flip (one flip, counted on the row).
  assert.equal(await flips(), flipsBefore + 1);
  // "since 12:03:41 (0 s)": the clock time the API gave, as the browser writes it.
  const clock = await page.evaluate((ms) => new Date(ms).toLocaleTimeString([], { hour12: false }), since);
  assert.match((await healthCell.textContent()) ?? '', new RegExp(`^down: .* · since ${clock} \\(\\d+ s\\)$`));
  await page.locator('#events li[data-type="health"][data-to="down"]').filter({ hasText: detail.reason }).waitFor({ timeout: 2000 });

  // Drain with a click, checked through the API.
  await page.click(`${row('web', addr(w1))} button.drain`);
  await until('the API lists web-1 as draining', async () => {
    const { body } = await api.get('/services/web/backends');
    return body.data.backends.find((b: { address: string }) => b.address === addr(w1))?.state === 'draining' ? true : undefined;
  }, 3000);
  await page.waitForSelector(`${row('web', addr(w1))}[data-state="draining"]`, { timeout: 2000 });
  assert.equal(await page.locator(`${row('web', addr(w1))} button.drain`).textContent(), 'Undrain');

  // Weight 0: the page shows the API's own refusal.
  const id = (await api.get('/services/web/backends')).body.data.backends.find((b: { address: string }) => b.address === addr(w2)).id;
  const refusal = await api.patch(`/services/web/backends/${id}`, { weight: 0 });
  assert.equal(refusal.status, 400);
  const title: string = refusal.body.data.title;
  await page.fill(`${row('web', addr(w2))} input[name="weight"]`, '0');
  await page.click(`${row('web', addr(w2))} .weight-form button`);
  const answer = page.locator('section[data-service="web"] .answer');
  await answer.filter({ hasText: title }).waitFor({ timeout: 3000 });
  assert.match((await answer.textContent()) ?? '', new RegExp(`fail \\(400\\): ${title.replace(/[()[\]\\.*+?^$|{}]/g, '\\$&')}`));
  assert.equal((await api.get(`/services/web/backends/${id}`)).body.data.backend.weight, 1, 'nothing changed');

  // Chromium logs every answer of status 400 or more as a console error; the refused weight is the only one.
  assert.deepEqual(errors, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  assert.deepEqual(await violations(), []);
  assert.equal(lb.admin.dashboard.hub.stats.dropped, 0);
  // The policy is in force: an inline script added to the page is refused, and reported.
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__ran = true';
    document.body.append(s);
  });
  assert.equal(await page.evaluate(() => (window as unknown as { __ran?: boolean }).__ran), undefined);
  await until('the violation is reported', async () => ((await violations()).some((v) => v.startsWith('script-src')) ? true : undefined), 2000);
});

test('with --admin-token: the page asks for it, works once it is entered, and the API refuses without it', T, async (t) => {
  const token = 'sécret tøken';
  const { base, w1, api } = await start(t, token);
  const anonymous = adminClient({ port: new URL(base).port } as never);
  assert.equal((await anonymous.get('/backends')).status, 401);
  assert.equal((await fetch(`${base}/events`)).status, 401);
  assert.equal((await fetch(`${base}/`)).status, 200, 'the page itself holds no data');
  assert.equal((await fetch(`${base}/dashboard/app.js`)).status, 200);

  const browser = await launch(t);
  const { page, errors } = await openPage(browser, `${base}/`);
  await page.waitForSelector('#token-form:not([hidden])', { timeout: 5000 });
  assert.equal(await page.locator('#status').getAttribute('data-state'), 'unauthorized');
  await page.fill('#token', token);
  await page.click('#token-form button[type="submit"]');
  const addr = `127.0.0.1:${w1.address.port}`;
  await page.waitForSelector(`${row('web', addr)}[data-health="up"]`, { timeout: 5000 });
  await page.click(`${row('web', addr)} button.drain`);
  await until('drained through the page, with the token', async () => {
    const { body } = await api.get('/services/web/backends');
    return body.data.backends.find((b: { address: string }) => b.address === addr)?.state === 'draining' ? true : undefined;
  }, 3000);
  // Kept for the tab only: in sessionStorage, not in the URL or a cookie.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fulcrum.adminToken')), token);
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(new URL(page.url()).search, '');
  // The only errors are the two 401s before the token was entered (Chromium logs refused fetches).
  assert.ok(errors.every((e) => /401/.test(e)), errors.join('\n'));
  assert.equal((await anonymous.get('/backends')).status, 401, 'still refused without the token');
});
