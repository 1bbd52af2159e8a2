/**
 * A `register` on a backend the config file declares, with a store: the
 * settings it sets (weight, maxConnections, proxyProtocol, backup,
 * slowStart) are the same on every instance, and stay through the periodic
 * resync and a reload's overlay; once the store no longer has the entry, the
 * file's settings come back. Two Fulcrum objects share one ioredis-mock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import RedisMock from 'ioredis-mock';
import type { Redis, RedisOptions } from 'ioredis';
import { storeFromUrl } from '../../../src/config/store.ts';
import { KEYS } from '../../../src/store/redis.ts';
import type { SharedStore } from '../../../src/store/shared.ts';
import type { Fulcrum } from '../../../src/fulcrum.ts';
import { adminClient } from '../../helpers/admin-client.ts';
import { startProxy } from '../../helpers/proxy.ts';
import { until } from '../../helpers/wait.ts';

const KEY = '127.0.0.1:7001';

/** What a user sees of the file's backend on one instance. */
function settings(lb: Fulcrum) {
  const b = lb.registry.getByKey(KEY)!;
  return { origin: b.origin, weight: b.weight, maxConnections: b.maxConnections, proxyProtocol: b.proxyProtocol, sendProxy: b.sendProxy, backup: b.backup, slowStartMs: b.slowStartMs };
}

const FILE = { origin: 'file', weight: 1, maxConnections: 0, proxyProtocol: undefined, sendProxy: undefined, backup: false, slowStartMs: undefined };
const REGISTERED = { origin: 'file', weight: 3, maxConnections: 5, proxyProtocol: 'v2', sendProxy: 'v2', backup: true, slowStartMs: 2000 };

test('register on a file backend: every setting reaches the other instance and survives resync and reload; gone from the store, the file rules again', { timeout: 15_000 }, async (t) => {
  const port = 21_500;
  const connect = (o: RedisOptions) => new RedisMock({ ...o, host: 'mock', port }) as unknown as Redis;
  const direct = new RedisMock({ host: 'mock', port }) as unknown as Redis;
  const store = { ...storeFromUrl('store', 'redis://mock:6379/0'), resyncIntervalMs: 30_000 };
  const mk = () => startProxy(t, { store, backends: [{ host: '127.0.0.1', port: 7001, weight: 1 }] }, { connectStore: connect });
  const a = await mk();
  const b = await mk();
  assert.deepEqual(settings(a), FILE);

  const res = await adminClient(a.adminAddress).post('/register', { address: KEY, weight: 3, proxyProtocol: 'v2', maxConnections: 5, backup: true, slowStart: '2s' });
  assert.equal(res.status, 200);
  assert.deepEqual(settings(a), REGISTERED);
  await until('B heard the change', () => (b.registry.getByKey(KEY)!.weight === 3 ? true : undefined));
  assert.deepEqual(settings(b), REGISTERED);

  // The whole state read again (periodic resync, reconnect, gap) lays the same entry over the file.
  await (a.store as SharedStore).resync('test');
  await (b.store as SharedStore).resync('test');
  assert.deepEqual(settings(a), REGISTERED);
  assert.deepEqual(settings(b), REGISTERED);

  // A reload rewrites the file's backends, then the store's overlay: the register still holds.
  await a.apply(a.config);
  assert.deepEqual(settings(a), REGISTERED);

  // A later PATCH (weight, through B) keeps the register's settings: its entry still says so.
  assert.equal((await adminClient(b.adminAddress).patch(`/backends/${b.registry.getByKey(KEY)!.id}`, { weight: 4 })).status, 200);
  await until('A has the weight', () => (a.registry.getByKey(KEY)!.weight === 4 ? true : undefined));
  await (a.store as SharedStore).resync('test');
  await a.apply(a.config);
  assert.deepEqual(settings(a), { ...REGISTERED, weight: 4 });

  // The store loses the entry (someone with redis-cli): the file's settings come back, the limit too.
  await direct.hdel(KEYS.backends('default'), KEY);
  await (a.store as SharedStore).resync('test');
  assert.deepEqual(settings(a), FILE);
});

test('a PATCH (drain) of a file backend never registered shares its state only: a reload\'s new file settings still apply', { timeout: 15_000 }, async (t) => {
  const port = 21_501;
  const connect = (o: RedisOptions) => new RedisMock({ ...o, host: 'mock', port }) as unknown as Redis;
  const store = { ...storeFromUrl('store', 'redis://mock:6379/0'), resyncIntervalMs: 30_000 };
  const mk = () => startProxy(t, { store, backends: [{ host: '127.0.0.1', port: 7001, weight: 1 }] }, { connectStore: connect });
  const a = await mk();
  const b = await mk();
  const id = a.registry.getByKey(KEY)!.id;
  assert.equal((await adminClient(a.adminAddress).patch(`/backends/${id}`, { state: 'draining' })).status, 200);
  await until('B drains it', () => (b.registry.getByKey(KEY)!.state === 'draining' ? true : undefined));

  // The file now gives it a limit and a PROXY header: the reload applies them, the drain holds.
  const next = { ...a.config, services: a.config.services.map((s) => ({ ...s, backends: [{ host: '127.0.0.1', port: 7001, weight: 2, maxConnections: 4, proxyProtocol: 'v1' as const }] })) };
  await a.apply(next);
  const expected = { ...FILE, weight: 1, maxConnections: 4, proxyProtocol: 'v1', sendProxy: 'v1' };
  assert.deepEqual(settings(a), expected);
  assert.equal(a.registry.getByKey(KEY)!.state, 'draining');
  await (a.store as SharedStore).resync('test');
  assert.deepEqual(settings(a), expected);
});
