import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { activeCounts, SlotTable } from '../../../src/backends/active-counts.ts';
import { Backend } from '../../../src/backends/backend.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { leastConnections } from '../../../src/strategies/least-connections.ts';

const spec = (port: number) => ({ host: '127.0.0.1', port, weight: 1 });

test('slots: every registry (service) has its own table; every Backend its own slot in it, and active lives there', () => {
  const registries = [0, 1].map(() => new Registry({ strategy: leastConnections(), initialHealth: 'up' }));
  const [one, two] = registries.map((r) => [1, 2, 3].map((i) => r.upsert(spec(9000 + i)).backend));
  assert.notEqual(one![0]!.counts, two![0]!.counts);
  assert.notEqual(one![0]!.counts, activeCounts);
  for (const set of [one!, two!]) {
    assert.ok(set.every((b) => b.counts === set[0]!.counts));
    assert.equal(new Set(set.map((b) => b.activeSlot)).size, set.length);
  }
  const backends = [...one!, ...two!, new Backend(spec(9001)), new Backend(spec(9001))];
  backends.forEach((b, i) => (b.active = i + 1));
  assert.deepEqual(
    backends.map((b) => b.active),
    backends.map((_, i) => i + 1),
  );
  assert.deepEqual(
    backends.map((b) => b.counts.array[b.activeSlot]),
    backends.map((_, i) => i + 1),
  );
  backends[0]!.active++;
  backends[1]!.active--;
  assert.deepEqual([backends[0]!.active, backends[1]!.active, backends[2]!.active], [2, 1, 3]);
  assert.equal(new Backend(spec(9009)).active, 0);
});

test('slots: growth doubles the table and keeps every value; the old array is not to be kept', () => {
  const table = new SlotTable(4);
  const slots = Array.from({ length: 4 }, () => table.allocate());
  slots.forEach((s, i) => (table.array[s] = 100 + i));
  const before = table.array;
  const layout = table.layout;
  const more = Array.from({ length: 5 }, () => table.allocate());
  assert.deepEqual([...slots, ...more], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(table.capacity, 16);
  assert.notEqual(table.layout, layout, 'growth moves the scratch area');
  assert.deepEqual(
    slots.map((s) => table.array[s]),
    [100, 101, 102, 103],
  );
  assert.deepEqual(
    more.map((s) => table.array[s]),
    [0, 0, 0, 0, 0],
  );
  assert.equal(table.size, 9);
  // Growing the memory detaches the old buffer; whoever kept the array reads nothing.
  table.scratch(1_000_000);
  assert.equal(before.length, 0);
  assert.equal(table.array[slots[2]!], 102);
});

test('slots: a released slot is reused, last released first, and starts at 0', () => {
  const table = new SlotTable(8);
  const [a, b, c] = [table.allocate(), table.allocate(), table.allocate()];
  table.array[a] = 5;
  table.array[b] = 7;
  table.release(a);
  table.release(b);
  assert.equal(table.size, 1);
  assert.equal(table.allocate(), b);
  assert.equal(table.array[b], 0);
  assert.equal(table.allocate(), a);
  assert.equal(table.allocate(), c + 1);
});

test('slots: the scratch area starts after the slots and moves when they grow', () => {
  const table = new SlotTable(2);
  assert.equal(table.scratch(10), 2);
  table.array.fill(9, 2, 12);
  const layout = table.layout;
  table.allocate();
  table.allocate();
  assert.equal(table.layout, layout, 'no growth yet');
  const slot = table.allocate();
  assert.equal(slot, 2);
  assert.equal(table.array[slot], 0, 'a new slot over the old scratch area starts at 0');
  assert.notEqual(table.layout, layout);
  assert.equal(table.scratch(10), 4);
});

test('slots: a removed backend keeps its slot while anything holds it, even at 0 connections', () => {
  const registry = new Registry({ strategy: leastConnections(), initialHealth: 'up' });
  const removed = registry.upsert(spec(9001)).backend;
  registry.remove(removed);
  const others = Array.from({ length: 2000 }, (_, i) => new Backend(spec(10_000 + i)));
  assert.ok(!others.some((b) => b.activeSlot === removed.activeSlot));
  for (const b of others) b.active = 7;
  assert.equal(removed.active, 0);
  removed.active++; // a late close or a test
  assert.ok(others.every((b) => b.active === 7));
});

test('slots: a garbage-collected backend hands its slot back', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return t.skip('gc cannot be exposed here');
  let released = false;
  for (let round = 0; round < 10 && !released; round++) {
    const size = activeCounts.size;
    (() => {
      for (let i = 0; i < 100; i++) new Backend(spec(20_000 + i)).active = 3;
    })();
    assert.ok(activeCounts.size >= size + 100);
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    released = activeCounts.size <= size;
  }
  assert.ok(released, 'the slots of unreachable backends are released');
  const fresh = new Backend(spec(30_000));
  assert.equal(fresh.active, 0, 'a reused slot starts at 0');
});
