/**
 * Two Fulcrum processes, one real redis-server (started here on a free
 * port): what the shared store promises, as a user sees it. Traffic is real
 * HTTP through each instance's proxy to demo backends that answer with their
 * name; the admin calls are the ones an operator makes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { startCli, type RunningCli } from '../helpers/cli.ts';
import { httpGet } from '../helpers/net.ts';
import { runRedis, startRedis, redisCli, type TestRedis } from '../helpers/redis.ts';
import { refusedPort } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };

async function demo(t: TestContext, name: string): Promise<DemoBackend> {
  const b = await startDemoBackend(name);
  t.after(() => b.close());
  return b;
}

const addr = (b: DemoBackend) => `127.0.0.1:${b.address.port}`;

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, { method, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}

/** Which backends answer `n` requests through an instance's proxy. */
async function answers(fulcrum: RunningCli, n = 6): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await httpGet(fulcrum.proxyPort)).trim());
  return [...seen].sort();
}

async function backendsOf(fulcrum: RunningCli): Promise<Map<string, any>> {
  const { body } = await call(fulcrum.admin, 'GET', '/backends');
  return new Map(body.data.backends.map((b: any) => [b.address, b]));
}

function instance(t: TestContext, redis: TestRedis, ...args: string[]): Promise<RunningCli> {
  return startCli(t, ['--store', redis.url, '--algo', 'rr', '--health-interval', '0', ...args]);
}

test('two processes on one redis-server: register, drain, delete and a lost message, each in force on the other', T, async (t) => {
  const redis = await startRedis(t);
  const [d1, d2, d3] = [await demo(t, 'd1'), await demo(t, 'd2'), await demo(t, 'd3')];
  const a = await instance(t, redis, '--backend', addr(d1));
  const b = await instance(t, redis, '--backend', addr(d1));
  assert.deepEqual(await answers(b), ['hello from d1']);

  // Register on A: traffic through B reaches it.
  assert.equal((await call(a.admin, 'POST', '/register', { address: addr(d2) })).status, 200);
  await until('B sends to d2', async () => ((await answers(b, 4)).includes('hello from d2') ? true : undefined));
  assert.deepEqual(await answers(b), ['hello from d1', 'hello from d2']);

  // Drain on B (d1 is from the file: its admin state is shared all the same): A stops sending to it.
  const d1Id = (await backendsOf(b)).get(addr(d1)).id;
  assert.equal((await call(b.admin, 'PATCH', `/backends/${d1Id}`, { state: 'draining' })).status, 200);
  await until('A has d1 draining', async () => ((await backendsOf(a)).get(addr(d1)).state === 'draining' ? true : undefined));
  assert.deepEqual(await answers(a), ['hello from d2']);
  assert.equal((await call(a.admin, 'PATCH', `/backends/${d1Id}`, { state: 'active' })).status, 200);

  // Delete on A: gone on B.
  const d2Id = (await backendsOf(a)).get(addr(d2)).id;
  assert.equal((await call(a.admin, 'DELETE', `/backends/${d2Id}`)).status, 200);
  await until('B lost d2', async () => ((await backendsOf(b)).has(addr(d2)) ? undefined : true));
  assert.deepEqual(await answers(b), ['hello from d1']);
  assert.equal((await backendsOf(b)).get(addr(d1)).state, 'active');

  // A message lost on purpose: the entry and the version are written, nobody is told. The next change shows the gap.
  const direct = new Redis(redis.url);
  t.after(() => direct.disconnect());
  const v = await direct.incr('fulcrum:version');
  await direct.hset('fulcrum:backends:default', addr(d3), JSON.stringify({ v, host: '127.0.0.1', port: d3.address.port, weight: 1, state: 'active', backup: false, maxConnections: 0, removed: false }));
  assert.equal((await backendsOf(b)).has(addr(d3)), false);
  assert.equal((await call(a.admin, 'POST', '/register', { address: addr(d2) })).status, 200);
  await until('B repaired the gap', async () => ((await backendsOf(b)).has(addr(d3)) ? true : undefined));
  assert.deepEqual(await answers(b, 9), ['hello from d1', 'hello from d2', 'hello from d3']);
  assert.deepEqual(await answers(a, 9), ['hello from d1', 'hello from d2', 'hello from d3']);

  // The fleet view lists both.
  const cluster = await call(a.admin, 'GET', '/cluster');
  assert.equal(cluster.status, 200);
  assert.deepEqual(cluster.body.data.instances.map((i: any) => i.admin).sort(), [`127.0.0.1:${a.adminPort}`, `127.0.0.1:${b.adminPort}`].sort());
  assert.equal(cluster.body.data.store.state, 'connected');
});

test('Redis down: both serve on, admin changes answer 503, /healthz and the gauge say so; back: both resync; a restarted instance has the shared backends before it accepts', T, async (t) => {
  const redis = await startRedis(t);
  const [d1, d2, d3] = [await demo(t, 'd1'), await demo(t, 'd2'), await demo(t, 'd3')];
  const a = await instance(t, redis, '--backend', addr(d1));
  const b = await instance(t, redis);
  let logA = '';
  a.child.stderr!.on('data', (c) => (logA += c));
  assert.equal((await call(a.admin, 'POST', '/register', { address: addr(d2) })).status, 200);
  await until('B has d2', async () => ((await backendsOf(b)).has(addr(d2)) ? true : undefined));

  await redis.shutdown();
  for (const x of [a, b]) {
    await until('healthz says disconnected', async () => ((await call(x.admin, 'GET', '/healthz')).body.data.store === 'disconnected' ? true : undefined));
    const refused = await call(x.admin, 'POST', '/register', { address: addr(d3) });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.status, 'error');
    assert.equal(refused.body.code, 'ERR_STORE_UNAVAILABLE');
    assert.match(refused.body.message, /shared store \(redis:\/\/127\.0\.0\.1:\d+\/0\) is unreachable: nothing was changed/);
    assert.equal((await backendsOf(x)).has(addr(d3)), false);
    assert.match(await (await fetch(`${x.admin}/metrics`)).text(), /^fulcrum_store_connected 0$/m);
  }
  // Both keep serving the last state they knew.
  assert.deepEqual(await answers(a), ['hello from d1', 'hello from d2']);
  assert.deepEqual(await answers(b), ['hello from d2']);

  // While they are cut off, the data changes (d3 registered, d2 removed), on a copy run on another port
  // so that neither instance hears of it: only a resync on their reconnect can bring it in.
  const side = await runRedis(await refusedPort(), redis.dir);
  const sidePort = Number(side.spawnargs[side.spawnargs.indexOf('--port') + 1]);
  const v1 = Number(await redisCli(sidePort, 'incr', 'fulcrum:version'));
  await redisCli(sidePort, 'hset', 'fulcrum:backends:default', addr(d3), JSON.stringify({ v: v1, host: '127.0.0.1', port: d3.address.port, weight: 1, state: 'active', backup: false, maxConnections: 0, removed: false }));
  const v2 = Number(await redisCli(sidePort, 'incr', 'fulcrum:version'));
  await redisCli(sidePort, 'hset', 'fulcrum:backends:default', addr(d2), JSON.stringify({ v: v2, host: '127.0.0.1', port: d2.address.port, weight: 1, state: 'active', backup: false, maxConnections: 0, removed: true }));
  const sideExit = once(side, 'exit');
  await redisCli(sidePort, 'shutdown', 'save').catch(() => {});
  await sideExit;

  await redis.restart();
  for (const x of [a, b]) {
    await until('healthz says connected', async () => ((await call(x.admin, 'GET', '/healthz')).body.data.store === 'connected' ? true : undefined), 10_000);
    await until('resynced', async () => {
      const list = await backendsOf(x);
      return list.has(addr(d3)) && !list.has(addr(d2)) ? true : undefined;
    });
    assert.match(await (await fetch(`${x.admin}/metrics`)).text(), /^fulcrum_store_connected 1$/m);
  }
  assert.deepEqual(await answers(a), ['hello from d1', 'hello from d3']);
  assert.deepEqual(await answers(b), ['hello from d3']);
  // Logged once for the outage (not once per reconnect attempt), and once for the return (after once at start).
  assert.equal(logA.match(/store disconnected/g)?.length, 1);
  assert.equal(logA.match(/"msg":"store connected"/g)?.length, 2);
  assert.equal((await call(b.admin, 'POST', '/register', { address: addr(d2) })).status, 200);

  // B restarted, with no backend of its own: the first connection it accepts already has the shared ones.
  b.child.kill('SIGKILL');
  await once(b.child, 'exit');
  const b2 = await instance(t, redis);
  assert.deepEqual(await answers(b2, 1).then((x) => x.length), 1);
  assert.deepEqual(await answers(b2), ['hello from d2', 'hello from d3']);

  // Redis comes back empty (no persistence): the shared state is put back from what the instances knew.
  const version = (await call(a.admin, 'GET', '/healthz')).body.data.storeVersion;
  await redis.wipe();
  await redis.restart();
  await until('the store holds d2 and d3 again', async () => {
    const hash = await redisCli(redis.port, 'hkeys', 'fulcrum:backends:default');
    return hash.includes(addr(d2)) && hash.includes(addr(d3)) ? true : undefined;
  }, 10_000);
  assert.equal(Number(await redisCli(redis.port, 'get', 'fulcrum:version')), version);
  for (const x of [a, b2]) {
    await until('connected again', async () => ((await call(x.admin, 'GET', '/healthz')).body.data.store === 'connected' ? true : undefined), 10_000);
  }
  assert.deepEqual(await answers(a), ['hello from d1', 'hello from d2', 'hello from d3']);
  assert.deepEqual(await answers(b2), ['hello from d2', 'hello from d3']);
  assert.equal((await call(b2.admin, 'POST', '/deregister', { address: addr(d3) })).status, 200);
  await until('A lost d3', async () => ((await backendsOf(a)).has(addr(d3)) ? undefined : true));
  assert.equal(Number(await redisCli(redis.port, 'get', 'fulcrum:version')), version + 1);
});
