/**
 * The shared store at start-up and on reload, in process, on a real
 * redis-server: an instance whose Redis does not answer starts with its file
 * after the start-up timeout, says so, and merges the shared state when
 * Redis comes; a reload rewrites the file's backends but what the store says
 * of them (a drain, a removal) still holds; --workers gets the shared
 * backends through the primary.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { storeFromUrl } from '../../src/config/store.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { startCli } from '../helpers/cli.ts';
import { httpGet, refusedPort } from '../helpers/net.ts';
import { redisCli, runRedis, startRedis } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };
const loopback = { host: '127.0.0.1', port: 0 };

async function demo(t: TestContext, name: string): Promise<DemoBackend> {
  const b = await startDemoBackend(name);
  t.after(() => b.close());
  return b;
}

const addr = (b: DemoBackend) => `127.0.0.1:${b.address.port}`;
const entry = (v: number, b: DemoBackend, more: object = {}) =>
  JSON.stringify({ v, host: '127.0.0.1', port: b.address.port, weight: 1, state: 'active', backup: false, maxConnections: 0, removed: false, ...more });

async function answers(port: number, n = 6): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await httpGet(port)).trim());
  return [...seen].sort();
}

test('Redis not answering at start: the file alone after the start-up timeout, said once; the shared state merges when Redis comes', T, async (t) => {
  const [d1, d2] = [await demo(t, 'd1'), await demo(t, 'd2')];
  // The state Redis will hold when it comes: d2 registered by some other instance.
  const redis = await startRedis(t);
  await redisCli(redis.port, 'incr', 'fulcrum:version');
  await redisCli(redis.port, 'hset', 'fulcrum:backends:default', addr(d2), entry(1, d2));
  await redis.shutdown();

  const lines: any[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const store = { ...storeFromUrl('--store', redis.url), startupTimeoutMs: 300 };
  const began = Date.now();
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, algo: 'round-robin', health: { intervalMs: 0 }, backends: [{ ...loopback, host: '127.0.0.1', port: d1.address.port, weight: 1 }], store }), { log });
  t.after(() => lb.destroy());
  assert.ok(Date.now() - began >= 300, 'waited for the start-up timeout');
  assert.deepEqual(await answers(lb.proxyAddress.port), ['hello from d1']);
  assert.equal(lines.filter((l) => /did not answer in time; starting with the config file alone/.test(l.msg)).length, 1);
  assert.equal(lb.store.state, 'disconnected');

  await redis.restart();
  await until('the shared state merged', () => (lb.registry.getByKey(addr(d2)) ? true : undefined), 10_000);
  assert.deepEqual(await answers(lb.proxyAddress.port), ['hello from d1', 'hello from d2']);
  assert.equal(lb.store.version, 1);
});

test('a reload rewrites the file backends; the store\'s drain and removal of them still hold', T, async (t) => {
  const redis = await startRedis(t);
  const [d1, d2, d3] = [await demo(t, 'd1'), await demo(t, 'd2'), await demo(t, 'd3')];
  const spec = (b: DemoBackend) => ({ host: '127.0.0.1', port: b.address.port, weight: 1 });
  const config = makeConfig({ admin: loopback, listen: loopback, algo: 'round-robin', health: { intervalMs: 0 }, backends: [spec(d1), spec(d2), spec(d3)], store: storeFromUrl('--store', redis.url) });
  const lb = await Fulcrum.start(config);
  t.after(() => lb.destroy());
  const base = `http://127.0.0.1:${lb.adminAddress.port}`;
  const id = (b: DemoBackend) => lb.registry.getByKey(addr(b))!.id;
  assert.equal((await fetch(`${base}/backends/${id(d1)}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"state":"draining"}' })).status, 200);
  assert.equal((await fetch(`${base}/backends/${id(d2)}`, { method: 'DELETE' })).status, 200);
  assert.deepEqual(await answers(lb.proxyAddress.port), ['hello from d3']);
  const summary = await lb.apply(makeConfig({ admin: loopback, listen: { host: '127.0.0.1', port: lb.proxyAddress.port }, algo: 'round-robin', health: { intervalMs: 0 }, backends: [spec(d1), spec(d2), spec(d3)], store: config.store }));
  assert.deepEqual(summary.removed, []);
  assert.equal(lb.registry.getByKey(addr(d1))?.state, 'draining');
  assert.equal(lb.registry.getByKey(addr(d2)), undefined);
  assert.deepEqual(await answers(lb.proxyAddress.port), ['hello from d3']);

  // A service the reload adds takes what the store holds for it (written by some other instance).
  const v = Number(await redisCli(redis.port, 'incr', 'fulcrum:version'));
  await redisCli(redis.port, 'hset', 'fulcrum:backends:extra', addr(d2), entry(v, d2));
  const added = await lb.apply(makeConfig({
    admin: loopback,
    services: [
      makeService({ listen: { host: '127.0.0.1', port: lb.proxyAddress.port }, algo: 'round-robin', health: { intervalMs: 0 }, backends: [spec(d1), spec(d2), spec(d3)] }),
      makeService({ name: 'extra', listen: loopback, health: { intervalMs: 0 } }),
    ],
    store: config.store,
  }));
  assert.deepEqual(added.added, ['extra']);
  await until('the new service has the shared backend', () => (lb.service('extra')!.registry.getByKey(addr(d2)) ? true : undefined));
  assert.equal((await httpGet(lb.service('extra')!.address!.port)).trim(), 'hello from d2');
});

test('--workers 2: a backend registered on another instance reaches the workers', T, async (t) => {
  const redis = await startRedis(t);
  const [d1, d2] = [await demo(t, 'd1'), await demo(t, 'd2')];
  const a = await startCli(t, ['--store', redis.url, '--algo', 'rr', '--health-interval', '0', '--backend', addr(d1)]);
  const b = await startCli(t, ['--store', redis.url, '--algo', 'rr', '--health-interval', '0', '--backend', addr(d1), '--workers', '2']);
  const res = await fetch(`${a.admin}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: addr(d2) }) });
  assert.equal(res.status, 200);
  await until('B\'s workers send to d2', async () => ((await answers(b.proxyPort, 4)).includes('hello from d2') ? true : undefined), 10_000);
  // Every worker has it: with rr per worker, a dozen connections spread over both reach both backends.
  assert.deepEqual(await answers(b.proxyPort, 12), ['hello from d1', 'hello from d2']);
  b.child.kill('SIGTERM');
  await once(b.child, 'exit');
});

test('store through Sentinel: the instance asks a real redis-sentinel for the master and shares through it', T, async (t) => {
  const redis = await startRedis(t);
  const sentinelPort = await refusedPort();
  const conf = join(redis.dir, 'sentinel.conf');
  writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${redis.dir}\nsentinel monitor mymaster 127.0.0.1 ${redis.port} 1\nsentinel down-after-milliseconds mymaster 5000\n`);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  t.after(() => sentinel.kill('SIGKILL'));
  await until('sentinel answers', async () => ((await redisCli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'mymaster').catch(() => '')).includes(String(redis.port)) ? true : undefined), 10_000);

  const d1 = await demo(t, 'd1');
  const store = { ...storeFromUrl('--store', redis.url), url: undefined, sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'mymaster' };
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, health: { intervalMs: 0 }, store }));
  t.after(() => lb.destroy());
  assert.equal(lb.store.state, 'connected');
  assert.equal(lb.store.where, `sentinel mymaster (127.0.0.1:${sentinelPort})`);
  const res = await fetch(`http://127.0.0.1:${lb.adminAddress.port}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: addr(d1) }) });
  assert.equal(res.status, 200);
  // It went to the master the Sentinel named.
  assert.match(await redisCli(redis.port, 'hget', 'fulcrum:backends:default', addr(d1)), /"removed":false/);
  assert.equal((await httpGet(lb.proxyAddress.port)).trim(), 'hello from d1');
});
