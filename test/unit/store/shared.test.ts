/**
 * The shared store's sync on ioredis-mock (fast, no Redis): entries encoded
 * and checked, versions in order, a dropped message found by its gap and
 * repaired by a resync, a change made behind the instances' backs picked up
 * by the periodic resync. Two Fulcrum objects share one mock Redis, each with
 * real listeners; what is asserted is what their registries hold.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import RedisMock from 'ioredis-mock';
import type { Redis, RedisOptions } from 'ioredis';
import { storeFromUrl } from '../../../src/config/store.ts';
import { decodeEntry, decodeMessage } from '../../../src/store/entry.ts';
import { KEYS } from '../../../src/store/redis.ts';
import type { SharedStore } from '../../../src/store/shared.ts';
import type { Fulcrum } from '../../../src/fulcrum.ts';
import { adminClient } from '../../helpers/admin-client.ts';
import { startProxy } from '../../helpers/proxy.ts';
import { until } from '../../helpers/wait.ts';

const T = { timeout: 15_000 };
let db = 0;

/** A mock Redis of its own for each test (ioredis-mock shares data by host and port). */
function mockRedis(): { connect: (o: RedisOptions) => Redis; direct: Redis } {
  const port = 20_000 + db++;
  const connect = (o: RedisOptions) => new RedisMock({ ...o, host: 'mock', port }) as unknown as Redis;
  return { connect, direct: new RedisMock({ host: 'mock', port }) as unknown as Redis };
}

async function instance(t: TestContext, connect: (o: RedisOptions) => Redis, resyncIntervalMs = 30_000): Promise<Fulcrum> {
  const store = { ...storeFromUrl('store', 'redis://mock:6379/0'), resyncIntervalMs };
  return startProxy(t, { store, backends: [{ host: '127.0.0.1', port: 7001, weight: 1 }] }, { connectStore: connect });
}

const keys = (lb: Fulcrum) => lb.registry.list().map((b) => `${b.key}@${b.weight}${b.state === 'draining' ? ' draining' : ''}`).sort();

test('entries: a good one decodes; each bad field is named', () => {
  const good = { v: 3, host: '127.0.0.1', port: 9001, weight: 5, state: 'active', backup: false, maxConnections: 0, removed: false };
  assert.deepEqual(decodeEntry(JSON.stringify(good)), good);
  const cases: [unknown, string][] = [
    ['{', 'not JSON'],
    [[], 'not an object'],
    [{ ...good, v: 0 }, 'v: not a positive integer'],
    [{ ...good, host: '' }, 'host: missing'],
    [{ ...good, port: 70000 }, 'port: not 1-65535'],
    [{ ...good, weight: 0 }, 'weight: not 1-1000'],
    [{ ...good, state: 'up' }, 'state: not active or draining'],
    [{ ...good, backup: 'no' }, 'backup: not a boolean'],
    [{ ...good, removed: 1 }, 'removed: not a boolean'],
    [{ ...good, registered: false }, 'registered: not true'],
    [{ ...good, proxyProtocol: 'v3' }, 'proxyProtocol: not v1, v2, none'],
  ];
  for (const [input, reason] of cases) assert.equal(decodeEntry(typeof input === 'string' ? input : JSON.stringify(input)), reason);
  assert.deepEqual(decodeEntry(JSON.stringify({ ...good, proxyProtocol: 'v2' })), { ...good, proxyProtocol: 'v2' });
  assert.equal(decodeMessage(JSON.stringify({ v: 4, s: 'default', k: '127.0.0.1:9001', e: good })), 'entry: v: not a positive integer'.replace('entry: v: not a positive integer', 'entry version differs from the message version'));
  assert.equal(decodeMessage(JSON.stringify({ v: 3, s: 'default', k: '127.0.0.1:9002', e: good })), 'entry address differs from the key');
  assert.deepEqual(decodeMessage(JSON.stringify({ v: 3, s: 'default', k: '127.0.0.1:9001', e: good })), { v: 3, service: 'default', key: '127.0.0.1:9001', entry: good });
});

test('a change on A is in Redis when A answers, and reaches B with the next version', T, async (t) => {
  const { connect, direct } = mockRedis();
  const a = await instance(t, connect);
  const b = await instance(t, connect);
  const api = adminClient(a.adminAddress);
  const res = await api.post('/register', { address: '127.0.0.1:9001', weight: 5 });
  assert.equal(res.status, 200);
  // Written before the answer: the entry and its version are there now.
  assert.equal(await direct.get(KEYS.version), '1');
  assert.deepEqual(JSON.parse((await direct.hget(KEYS.backends('default'), '127.0.0.1:9001'))!), { v: 1, host: '127.0.0.1', port: 9001, weight: 5, state: 'active', backup: false, maxConnections: 0, registered: true, removed: false });
  await until('B has the backend', () => (b.registry.getByKey('127.0.0.1:9001') ? true : undefined));
  assert.deepEqual(keys(b), ['127.0.0.1:7001@1', '127.0.0.1:9001@5']);
  assert.equal((b.store as SharedStore).version, 1);
  // A backend's own PROXY header setting is shared with it.
  assert.equal((await api.post('/register', { address: '127.0.0.1:9003', proxyProtocol: 'v2' })).status, 200);
  await until('B sends it the header', () => (b.registry.getByKey('127.0.0.1:9003')?.sendProxy === 'v2' ? true : undefined));
  assert.equal((await api.post('/deregister', { address: '127.0.0.1:9003' })).status, 200);
  await until('B drops it', () => (b.registry.getByKey('127.0.0.1:9003') ? undefined : true));

  // Drain on B (a file backend's admin state is shared too), weight on A, removal on B.
  const id = b.registry.getByKey('127.0.0.1:7001')!.id;
  assert.equal((await adminClient(b.adminAddress).patch(`/backends/${id}`, { state: 'draining' })).status, 200);
  assert.equal((await api.patch(`/backends/${a.registry.getByKey('127.0.0.1:9001')!.id}`, { weight: 7 })).status, 200);
  await until('A sees the drain, B the weight', () => (a.registry.getByKey('127.0.0.1:7001')!.state === 'draining' && b.registry.getByKey('127.0.0.1:9001')!.weight === 7 ? true : undefined));
  assert.equal((await adminClient(b.adminAddress).post('/deregister', { address: '127.0.0.1:9001' })).status, 200);
  await until('A drops it', () => (a.registry.getByKey('127.0.0.1:9001') ? undefined : true));
  assert.deepEqual(keys(a), ['127.0.0.1:7001@1 draining']);
  assert.deepEqual(keys(b), keys(a));
  assert.equal((a.store as SharedStore).stats.gaps, 0);
  await until('both at version 6', () => ((a.store as SharedStore).version === 6 && (b.store as SharedStore).version === 6 ? true : undefined));
});

test('a message dropped on purpose (INCR and HSET, no PUBLISH) is found by the next one and repaired', T, async (t) => {
  const { connect, direct } = mockRedis();
  const a = await instance(t, connect);
  const b = await instance(t, connect);
  // What a lost message looks like: the version moved, the entry is there, nobody was told.
  const v = await direct.incr(KEYS.version);
  await direct.hset(KEYS.backends('default'), '127.0.0.1:9005', JSON.stringify({ v, host: '127.0.0.1', port: 9005, weight: 2, state: 'active', backup: false, maxConnections: 0, removed: false }));
  assert.equal(b.registry.getByKey('127.0.0.1:9005'), undefined);
  assert.equal((await adminClient(a.adminAddress).post('/register', { address: '127.0.0.1:9006' })).status, 200);
  await until('B repaired the gap', () => (b.registry.getByKey('127.0.0.1:9005') && b.registry.getByKey('127.0.0.1:9006') ? true : undefined));
  const store = b.store as SharedStore;
  assert.equal(store.stats.gaps, 1);
  assert.equal(store.version, 2);
  assert.deepEqual(keys(b), ['127.0.0.1:7001@1', '127.0.0.1:9005@2', '127.0.0.1:9006@1']);
});

test('the periodic resync picks up what changed with no message at all, and drops what the store no longer has', T, async (t) => {
  const { connect, direct } = mockRedis();
  const a = await instance(t, connect, 100);
  assert.equal((await adminClient(a.adminAddress).post('/register', { address: '127.0.0.1:9007' })).status, 200);
  const before = (a.store as SharedStore).stats.resyncs;
  // Someone with redis-cli: removes the registered backend's entry and tombstones the file's.
  await direct.hdel(KEYS.backends('default'), '127.0.0.1:9007');
  const v = await direct.incr(KEYS.version);
  await direct.hset(KEYS.backends('default'), '127.0.0.1:7001', JSON.stringify({ v, host: '127.0.0.1', port: 7001, weight: 1, state: 'active', backup: false, maxConnections: 0, removed: true }));
  await until('a resync ran', () => ((a.store as SharedStore).stats.resyncs > before && a.registry.list().length === 0 ? true : undefined));
  assert.deepEqual(keys(a), []);
  // An unreadable entry is skipped, not trusted.
  await direct.hset(KEYS.backends('default'), '127.0.0.1:9008', '{"v":1,"host":"127.0.0.1"}');
  const n = (a.store as SharedStore).stats.resyncs;
  await until('another resync', () => ((a.store as SharedStore).stats.resyncs > n ? true : undefined));
  assert.deepEqual(keys(a), []);
});

test('a store that comes back empty is seeded from the last known state, once, whichever instance is first', T, async (t) => {
  const { connect, direct } = mockRedis();
  const a = await instance(t, connect);
  const b = await instance(t, connect);
  assert.equal((await adminClient(a.adminAddress).post('/register', { address: '127.0.0.1:9009', weight: 4 })).status, 200);
  await until('B has it', () => (b.registry.getByKey('127.0.0.1:9009') ? true : undefined));
  await direct.flushall();
  await Promise.all([(a.store as SharedStore).resync('test'), (b.store as SharedStore).resync('test')]);
  assert.equal(await direct.get(KEYS.version), '1');
  assert.deepEqual(JSON.parse((await direct.hget(KEYS.backends('default'), '127.0.0.1:9009'))!).weight, 4);
  assert.deepEqual(keys(a), ['127.0.0.1:7001@1', '127.0.0.1:9009@4']);
  assert.deepEqual(keys(b), keys(a));
});

test('a message that arrives late (older than the change in force) never undoes it', T, async (t) => {
  const { connect, direct } = mockRedis();
  const a = await instance(t, connect);
  const id = a.registry.getByKey('127.0.0.1:7001')!.id;
  // Another instance's change takes version 1; its message is held up.
  const late = await direct.incr(KEYS.version);
  const stale = { v: late, host: '127.0.0.1', port: 7001, weight: 5, state: 'draining', backup: false, maxConnections: 0, removed: false };
  await direct.hset(KEYS.backends('default'), '127.0.0.1:7001', JSON.stringify(stale));
  // Then A's own change (version 2) is made and answered.
  assert.equal((await adminClient(a.adminAddress).patch(`/backends/${id}`, { weight: 9 })).status, 200);
  await until('A at version 2', () => ((a.store as SharedStore).version === 2 ? true : undefined));
  // Now the held-up message arrives.
  await direct.publish(KEYS.channel, JSON.stringify({ v: late, s: 'default', k: '127.0.0.1:7001', e: stale }));
  await (a.store as SharedStore).resync('test'); // and a resync reads the newer entry too
  assert.deepEqual(keys(a), ['127.0.0.1:7001@9']);
});
