/**
 * The event bus: what a registry's changes publish, and what a stream that
 * reconnects is given back from the ring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../../src/backends/registry.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createStrategy } from '../../../src/strategies/index.ts';

const registry = () => new Registry({ strategy: createStrategy('round-robin', { random: Math.random, now: Date.now, stickyTtlMs: 1, stickyMaxEntries: 1 }), initialHealth: 'unknown' });

test('a registry\'s changes become events with from and to', () => {
  const bus = new EventBus({ now: () => 1000 });
  const r = registry();
  bus.watch({ name: 'web', registry: r });
  bus.watch({ name: 'web', registry: r }); // twice is once
  const { backend: b } = r.upsert({ host: '127.0.0.1', port: 9001, weight: 1 }, 'api');
  r.setHealth(b, 'up');
  r.setHealth(b, 'up'); // no change, no event
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
  assert.equal(bus.healthSince(b), 1000);
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
