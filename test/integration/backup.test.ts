/**
 * Backup backends end to end: which backend answers real connections while
 * primaries go down and come back. Health checks run fast (rise 1, fall 1)
 * and every step waits for the registry's state, never for a fixed time.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { httpGet, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const T = { timeout: 20_000 };

async function demo(t: TestContext, name: string, port = 0): Promise<DemoBackend> {
  const b = await startDemoBackend(name, port);
  t.after(() => b.close());
  return b;
}

async function answers(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await httpGet(port)).trim().replace('hello from ', ''));
  return out;
}

test('a backup answers only while every primary is down, and is left as soon as one comes back', T, async (t) => {
  const a = await startDemoBackend('a');
  const b = await startDemoBackend('b');
  const c = await demo(t, 'c');
  const d = await demo(t, 'd');
  const aPort = a.address.port;
  const lb = await startProxy(t, {
    algo: 'round-robin',
    backends: [backendAt(aPort), backendAt(b.address.port), { ...backendAt(c.address.port), backup: true }],
    health: { intervalMs: 40, timeoutMs: 200, rise: 1, fall: 1 },
  });
  const api = adminClient(lb.adminAddress);
  // A second backup, over the API: HAProxy uses only the first ready backup unless `allbackups`.
  const reg = await api.post('/register', { address: `127.0.0.1:${d.address.port}`, backup: true });
  assert.equal(reg.status, 200);
  assert.equal(reg.body.data.backend.backup, true);
  const registry = lb.registry;
  await waitFor(() => registry.list().every((x) => x.health === 'up'), 5000, 'every backend up');
  assert.equal(registry.primaryReadyCount, 2);
  assert.deepEqual((await answers(lb.proxyAddress.port, 4)).sort(), ['a', 'a', 'b', 'b']);

  // One primary down: the other takes everything; the backups stay idle.
  await a.close();
  await waitFor(() => registry.primaryReadyCount === 1, 5000, 'a down');
  assert.deepEqual(await answers(lb.proxyAddress.port, 3), ['b', 'b', 'b']);

  // Every primary down: the first backup, and only it.
  await b.close();
  await waitFor(() => registry.primaryReadyCount === 0, 5000, 'b down');
  assert.deepEqual(await answers(lb.proxyAddress.port, 4), ['c', 'c', 'c', 'c']);
  const listed = (await api.get('/backends')).body.data.backends as any[];
  assert.deepEqual(listed.map((x) => [x.backup, x.health]), [[false, 'down'], [false, 'down'], [true, 'up'], [true, 'up']]);

  // The first backup down too: the next one.
  await c.close();
  await waitFor(() => registry.getByKey(`127.0.0.1:${c.address.port}`)!.health === 'down', 5000, 'c down');
  assert.deepEqual(await answers(lb.proxyAddress.port, 2), ['d', 'd']);

  // A primary back: the backups are left at once.
  const a2 = await demo(t, 'a', aPort);
  void a2;
  await waitFor(() => registry.primaryReadyCount === 1, 5000, 'a back up');
  assert.deepEqual(await answers(lb.proxyAddress.port, 3), ['a', 'a', 'a']);
  assert.equal(registry.getByKey(`127.0.0.1:${d.address.port}`)!.ready, false);
});

test('allBackups: every ready backup shares the load while the primaries are down', T, async (t) => {
  const c = await demo(t, 'c');
  const d = await demo(t, 'd');
  const lb = await startProxy(t, {
    algo: 'round-robin',
    allBackups: true,
    backends: [backendAt(await refusedPort()), { ...backendAt(c.address.port), backup: true }, { ...backendAt(d.address.port), backup: true }],
    health: { intervalMs: 40, timeoutMs: 200, rise: 1, fall: 1 },
  });
  await waitFor(() => lb.registry.readyCount === 2, 5000, 'two backups ready');
  assert.deepEqual((await answers(lb.proxyAddress.port, 4)).sort(), ['c', 'c', 'd', 'd']);
});
