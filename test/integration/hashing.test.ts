/**
 * The hash strategies and lrt through the real data plane: maglev agreeing
 * across two Fulcrum instances that learned the same backends in different
 * orders, its keys read from real connections, and the connect times that
 * lrt smooths fed by real connects.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { dial, httpGet } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { waitFor } from '../helpers/wait.ts';

async function demoBackends(t: TestContext, names: string[]): Promise<DemoBackend[]> {
  const backends = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  return backends;
}

const answer = async (port: number, localAddress?: string) => (await httpGet(port, localAddress)).trim().replace('hello from ', '');

/** Runs `fn` over `items`, `width` at a time, keeping results in order. */
async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

test('maglev: 1,000 client addresses reach the same backends through two instances that learned the backends in different orders', async (t) => {
  // 200 backends: with a table built in registration order, about 1% of the slots would differ between these two (measured
  // 0.44% at 100 backends, 0.02% at 6), so some of 1,000 clients would reach different backends.
  const names = Array.from({ length: 200 }, (_, i) => `b${i}`);
  const weights = names.map((_, i) => 1 + (i % 3));
  const backends = await demoBackends(t, names);
  const specs = backends.map((b, i) => backendAt(b.address.port, weights[i]));
  const shuffled = specs.map((spec, i) => ({ spec, i, key: (i * 7919) % 200 })).sort((x, y) => x.key - y.key);
  // A: all from its file, in order. B: half from its file and half over its admin API, each half in another order.
  const a = await startProxy(t, { algo: 'maglev', backends: specs });
  const b = await startProxy(t, { algo: 'maglev', backends: shuffled.filter((x) => x.i % 2 === 1).map((x) => x.spec) });
  const api = adminClient(b.adminAddress);
  for (const { spec } of shuffled.filter((x) => x.i % 2 === 0).reverse()) {
    const res = await api.post('/register', { address: `127.0.0.1:${spec.port}`, weight: spec.weight });
    assert.equal(res.status, 200, res.text);
  }
  b.registry.flush();
  assert.equal(b.registry.list().length, 200);
  assert.notDeepEqual(b.registry.list().map((x) => x.port), a.registry.list().map((x) => x.port));

  const clients = Array.from({ length: 1000 }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
  const throughA = await inBatches(clients, 25, (ip) => answer(a.proxyAddress.port, ip));
  const throughB = await inBatches(clients, 25, (ip) => answer(b.proxyAddress.port, ip));
  const differ = clients.filter((_, i) => throughA[i] !== throughB[i]);
  assert.deepEqual(differ, [], `${differ.length} of 1,000 clients reached different backends`);
  // They spread: 1,000 clients over 200 backends (2.5 expected on a weight-1 backend) reach most of them.
  assert.ok(new Set(throughA).size >= 170, `${new Set(throughA).size} backends answered`);
});

test('maglev keys on real connections: client-ip keeps one address on one backend, client-ip-port spreads its connections', async (t) => {
  const backends = await demoBackends(t, ['a', 'b', 'c', 'd']);
  const specs = backends.map((b) => backendAt(b.address.port));
  const byIp = await startProxy(t, { algo: 'maglev', backends: specs });
  const byPort = await startProxy(t, { algo: 'maglev', hash: { key: 'client-ip-port', table: 65_537 }, backends: specs });
  const ip = '127.0.0.77';
  const viaIp = new Set<string>();
  const viaPort = new Set<string>();
  for (let i = 0; i < 24; i++) {
    viaIp.add(await answer(byIp.proxyAddress.port, ip));
    viaPort.add(await answer(byPort.proxyAddress.port, ip));
  }
  assert.equal(viaIp.size, 1);
  // 24 ephemeral ports over 4 backends: all on fewer than 3 happens about once in 3 × 10^5 runs.
  assert.ok(viaPort.size >= 3, `24 ports reached only ${[...viaPort].join(', ')}`);
});

test('lrt: every successful connect feeds the backend\'s smoothed connect time; other strategies read no clock for it', async (t) => {
  const backends = await demoBackends(t, ['a', 'b']);
  const specs = backends.map((b) => backendAt(b.address.port));
  const lrt = await startProxy(t, { algo: 'lrt', backends: specs });
  const rr = await startProxy(t, { algo: 'round-robin', backends: specs });
  const before = Date.now();
  for (let i = 0; i < 10; i++) {
    await answer(lrt.proxyAddress.port);
    await answer(rr.proxyAddress.port);
  }
  for (const b of lrt.registry.list()) {
    assert.ok(b.total > 0, `${b.key} took no connection`);
    assert.ok(b.connectTimeAt >= before - 5 && b.connectTimeAt <= Date.now() + 5, `${b.key} sampled at ${b.connectTimeAt}`);
    // A loopback connect: above 0, far below a second.
    assert.ok(b.connectTimeMs > 0 && b.connectTimeMs < 1000, `${b.key}: ${b.connectTimeMs} ms`);
  }
  for (const b of rr.registry.list()) assert.equal(b.connectTimeAt, 0);
});

test('lrt: a backend measured as slow gets a connection only once the fast one holds enough', async (t) => {
  const backends = await demoBackends(t, ['fast', 'slow']);
  const lb = await startProxy(t, { algo: 'least-response-time', backends: backends.map((b) => backendAt(b.address.port)) });
  const [fast, slow] = lb.registry.list() as [any, any];
  // As if measured: 1 ms and 10 s, sampled now (real connects on loopback take well under 1 ms and pull `fast` lower still).
  fast.connectTimeMs = 1;
  fast.connectTimeAt = Date.now();
  slow.connectTimeMs = 10_000;
  slow.connectTimeAt = Date.now();
  const got = await inBatches(Array.from({ length: 20 }, () => 0), 1, () => answer(lb.proxyAddress.port));
  assert.deepEqual(new Set(got), new Set(['fast']));
});

/** `count` raw connections from `localAddress` through `port`, each echoed once, so each holds a backend connection. */
async function hold(t: TestContext, port: number, localAddress: string, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < count; i++) {
    const s = await dial({ port, localAddress });
    sockets.push(s);
    s.write('x');
    await once(s, 'data');
  }
  return sockets;
}

test('maglev bounded load on real connections: one client holding 9 connections over 3 backends takes at most 4 of any, and the counts go back to 0', async (t) => {
  const backends = await demoBackends(t, ['a', 'b', 'c']);
  const specs = backends.map((b) => backendAt(b.address.port));
  const free = await startProxy(t, { algo: 'maglev', backends: specs });
  const bounded = await startProxy(t, { algo: 'maglev', hashBalanceFactor: 125, backends: specs });
  const heldFree = await hold(t, free.proxyAddress.port, '127.0.0.9', 9);
  const heldBounded = await hold(t, bounded.proxyAddress.port, '127.0.0.9', 9);
  assert.deepEqual(free.registry.list().map((b) => b.active).sort(), [0, 0, 9]);
  // Each may hold ceil(ceil((open + 1) × 1.25) / 3): 4 when the ninth arrives.
  const spread = bounded.registry.list().map((b) => b.active);
  assert.ok(Math.max(...spread) <= 4 && spread.reduce((x, y) => x + y) === 9, `bounded: ${spread.join(', ')}`);
  assert.equal(bounded.registry.counts.open, 9);
  for (const s of [...heldFree, ...heldBounded]) s.destroy();
  await waitFor(() => bounded.registry.counts.open === 0 && free.registry.counts.open === 0, 3000, 'the open counts back at 0');
  assert.deepEqual(bounded.registry.list().map((b) => b.active), [0, 0, 0]);
});

test('a reload that changes hash settings rebuilds the picker with them', async (t) => {
  const backends = await demoBackends(t, ['a', 'b']);
  const lb = await startProxy(t, { algo: 'maglev', backends: backends.map((b) => backendAt(b.address.port)) });
  assert.equal((lb.registry.set.picker as unknown as { table: Uint32Array }).table.length, 65_537);
  const service = lb.config.services[0]!;
  const summary = await lb.apply({ ...lb.config, services: [{ ...service, listen: { host: '127.0.0.1', port: lb.proxyAddress.port }, hash: { key: 'client-ip', table: 1009 }, hashBalanceFactor: 150 }] });
  assert.equal((lb.registry.set.picker as unknown as { table: Uint32Array }).table.length, 1009);
  assert.match(JSON.stringify(summary), /hash/);
  assert.deepEqual((await adminClient(lb.adminAddress).get('/services/default')).body.data.service.settings.hash, { key: 'client-ip', table: 1009 });
});
