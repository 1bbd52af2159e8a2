/**
 * The event bus: what a registry's changes publish, and what a stream that
 * reconnects is given back from the ring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../../src/backends/registry.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createStrategy } from '../../../src/strategies/index.ts';

const registry = (now: () => number = Date.now) => new Registry({ strategy: createStrategy('round-robin', { random: Math.random, now: Date.now, stickyTtlMs: 1, stickyMaxEntries: 1 }), initialHealth: 'unknown', now });

test('a registry\'s changes become events with from and to; a flip\'s reason rides along and stays on the backend with its time', () => {
  const bus = new EventBus({ now: () => 1000 });
  let clock = 500;
  const r = registry(() => clock);
  bus.watch({ name: 'web', registry: r });
  bus.watch({ name: 'web', registry: r }); // twice is once
  const { backend: b } = r.upsert({ host: '127.0.0.1', port: 9001, weight: 1 }, 'api');
  assert.deepEqual([b.healthSince, b.healthReason], [500, ''], 'unknown since it joined');
  clock = 800;
  r.setHealth(b, 'up', 'active check passed: connected');
  clock = 900;
  r.setHealth(b, 'up', 'again'); // no change, no event, nothing recorded
  assert.deepEqual([b.healthSince, b.healthReason], [800, 'active check passed: connected']);
  assert.deepEqual([b.healthDetail.since, b.healthDetail.reason], [new Date(800).toISOString(), 'active check passed: connected']);
  r.setAdminState(b, 'draining');
  r.setWeight(b, 5);
  r.flush();
  r.remove(b);
  const seen = bus.since('').events.map((e) => [e.type, e.service, e.backend, e.from, e.to]);
  assert.deepEqual(seen, [
    ['added', 'web', '127.0.0.1:9001', undefined, { weight: 1, origin: 'api' }],
    ['health', 'web', '127.0.0.1:9001', 'unknown', 'up'],
    ['state', 'web', '127.0.0.1:9001', 'active', 'draining'],
    ['weight', 'web', '127.0.0.1:9001', 1, 5],
    ['removed', 'web', '127.0.0.1:9001', undefined, undefined],
  ]);
  assert.deepEqual(bus.since('').events[1]!.detail, { reason: 'active check passed: connected', since: new Date(800).toISOString() });
});

test('since(): what follows an id; a lost stretch, an unknown or foreign id replays the ring and says so', () => {
  const bus = new EventBus({ capacity: 4 });
  const ids = Array.from({ length: 6 }, (_, i) => bus.publish({ type: 'reload', to: i }).id);
  assert.deepEqual(bus.since(ids[4]).events.map((e) => e.to), [5]);
  assert.equal(bus.since(ids[4]).lost, false);
  assert.deepEqual(bus.since(ids[5]), { events: [], lost: false });
  // ids[0] is older than the ring (which holds 2..5): those in between are lost.
  assert.deepEqual(bus.since(ids[0]).events.map((e) => e.to), [2, 3, 4, 5]);
  assert.equal(bus.since(ids[0]).lost, true);
  assert.equal(bus.since('deadbeef-3').lost, true); // another process's
  assert.equal(bus.since('nonsense').lost, true);
  assert.equal(bus.since(`${bus.boot}-99`).lost, true); // from the future
  assert.equal(bus.since(undefined).lost, false);
  assert.equal(bus.lastId, ids[5]);
});
