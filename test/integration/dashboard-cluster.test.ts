/**
 * The dashboard's second tab in real headless Chromium: with a shared store,
 * it lists the live instances from GET /cluster (two Fulcrum objects on one
 * real redis-server here); without one, the tab bar stays hidden. The event list shows the store going away.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig } from '../../src/config/config.ts';
import { storeFromUrl } from '../../src/config/store.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { launch, noBrowser, openPage } from '../helpers/browser.ts';
import { startRedis } from '../helpers/redis.ts';

const T = { timeout: 60_000, skip: noBrowser };
const loopback = { host: '127.0.0.1', port: 0 };

async function start(t: TestContext, url?: string): Promise<Fulcrum> {
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, health: { intervalMs: 0 }, ...(url && { store: storeFromUrl('--store', url) }) }));
  t.after(() => lb.destroy());
  return lb;
}

test('with a store, the Instances tab lists every live instance, this one marked', T, async (t) => {
  const redis = await startRedis(t);
  const a = await start(t, redis.url);
  const b = await start(t, redis.url);
  const browser = await launch(t);
  const { page, errors, violations } = await openPage(browser, `http://127.0.0.1:${a.adminAddress.port}/`);
  await page.waitForSelector('#tabs:not([hidden])', { timeout: 5000 });
  await page.click('[data-tab="cluster"]');
  const self = `127.0.0.1:${a.adminAddress.port}`;
  const other = `127.0.0.1:${b.adminAddress.port}`;
  await page.waitForSelector(`#instances tr[data-admin="${other}"]`, { timeout: 5000 });
  assert.deepEqual((await page.locator('#instances tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.admin))).sort(), [self, other].sort());
  assert.equal(await page.locator(`#instances tr[data-admin="${self}"]`).getAttribute('class'), 'self');
  assert.equal(await page.locator('#instances-count').textContent(), '2');
  assert.match((await page.locator('#cluster-store').textContent()) ?? '', /^redis:\/\/127\.0\.0\.1:\d+\/0: connected, version 0$/);
  assert.equal(await page.locator('#services-tab').isHidden(), true);
  await page.click('[data-tab="services"]');
  assert.equal(await page.locator('#services-tab').isVisible(), true);
  assert.deepEqual(errors, []);
  assert.deepEqual(await violations(), []);

  // Redis goes away: the event list says so, and the Instances tab says why it cannot list.
  await redis.shutdown();
  const event = page.locator('#events li[data-type="store"][data-to="disconnected"]');
  await event.waitFor({ timeout: 5000 });
  assert.match((await event.textContent()) ?? '', /store redis:\/\/127\.0\.0\.1:\d+\/0: connected → disconnected$/);
  await page.click('[data-tab="cluster"]');
  await page.waitForFunction(() => /GET \/cluster: error \(503\): the shared store .* is unreachable/.test(document.getElementById('cluster-store')?.textContent ?? ''), undefined, { timeout: 5000 });
});

test('without a store, no tab bar', T, async (t) => {
  const lb = await start(t);
  const browser = await launch(t);
  const { page, errors } = await openPage(browser, `http://127.0.0.1:${lb.adminAddress.port}/`);
  await page.waitForSelector('body[data-store="memory"]', { timeout: 5000 });
  // What the page was told: no store, this instance alone.
  const cluster = await (await fetch(`http://127.0.0.1:${lb.adminAddress.port}/cluster`)).json();
  assert.equal(cluster.data.store, null);
  assert.equal(cluster.data.instances.length, 1);
  assert.equal(await page.locator('#tabs').isHidden(), true);
  assert.deepEqual(errors, []);
});
