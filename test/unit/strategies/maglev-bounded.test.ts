import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../../src/backends/backend.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { maglev } from '../../../src/strategies/maglev.ts';
import type { Picker } from '../../../src/strategies/strategy.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { clientIp, makeBackendsIn, options, ready, SlotTable } from './fixtures.ts';

/** A skewed key set: key 0 half the time, else key k with probability ∝ 1/k (Zipf) over 1..999. */
function skewedKeys(count: number, random: () => number): string[] {
  const weights = Array.from({ length: 999 }, (_, k) => 1 / (k + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    if (random() < 0.5) {
      keys.push(clientIp(0));
      continue;
    }
    let u = random() * total;
    let k = 0;
    while (k < weights.length - 1 && (u -= weights[k]!) > 0) k++;
    keys.push(clientIp(k + 1));
  }
  return keys;
}

/** HAProxy's cap for a backend of weight w: its share of ceil((open + 1) × factor / 100), rounded up, at least 1. */
function cap(open: number, factor: number, weight: number, totalWeight: number): number {
  return Math.max(1, Math.ceil((Math.ceil(((open + 1) * factor) / 100) * weight) / totalWeight));
}

interface Run {
  maxOverMean: number;
  moved: number;
}

/**
 * Opens `keys.length` connections (closing a random earlier one now and then,
 * as real connections end), checking at every pick that the backend taken
 * was under its cap and that a key left its first choice only while that
 * one was full.
 */
function openAll(picker: Picker, home: Picker, backends: Backend[], table: SlotTable, keys: readonly string[], factor: number, random: () => number): Run {
  const open: Backend[] = [];
  const totalWeight = backends.reduce((a, b) => a + b.weight, 0);
  let moved = 0;
  for (const [i, key] of keys.entries()) {
    if (i % 4 === 3) {
      const at = Math.floor(random() * open.length);
      open[at]!.active--;
      open[at] = open[open.length - 1]!;
      open.pop();
    }
    assert.equal(table.open, open.length);
    const first = home.pick({ clientIp: key }, ready)!;
    const b = picker.pick({ clientIp: key }, ready)!;
    if (factor > 0) {
      assert.ok(b.active < cap(table.open, factor, b.weight, totalWeight), `pick ${i}: ${b.key} at ${b.active} of ${cap(table.open, factor, b.weight, totalWeight)}`);
      if (first.active < cap(table.open, factor, first.weight, totalWeight)) assert.equal(b, first, `pick ${i}: left ${first.key}, which had room`);
    }
    if (b !== first) moved++;
    b.active++;
    open.push(b);
  }
  const mean = open.length / backends.length;
  return { maxOverMean: Math.max(...backends.map((b) => b.active)) / mean, moved: moved / keys.length };
}

test('bounded load 125: under a skewed key set no backend passes 1.25 × the mean; keys leave their first choice only while it is full', () => {
  const keys = skewedKeys(20_000, mulberry32(1));
  const table = new SlotTable();
  const backends = makeBackendsIn(table, ...Array.from({ length: 10 }, () => 1));
  const home = maglev(options()).build(backends);
  const bounded = maglev(options({ hashBalanceFactor: 125 })).build(backends);
  const run = openAll(bounded, home, backends, table, keys, 125, mulberry32(2));
  // max ≤ ceil(ceil((open + 1) × 1.25) / 10) with 15,000 open: 1.25 × the mean and one connection.
  assert.ok(run.maxOverMean <= 1.25 + 10 / 15_000, `max/mean ${run.maxOverMean}`);
  for (const b of backends) b.active = 0;
  const free = openAll(home, home, backends, table, keys, 0, mulberry32(2));
  // Without the bound, the hot key's backend takes over half: measured 5.5 × the mean.
  assert.ok(free.maxOverMean > 4, `unbounded max/mean ${free.maxOverMean}`);
});

test('bounded load is weighted: a backend of weight 3 takes three times the cap of weight 1', () => {
  const keys = skewedKeys(8000, mulberry32(3));
  const table = new SlotTable();
  const backends = makeBackendsIn(table, 3, 1, 1, 1, 2, 2);
  const home = maglev(options()).build(backends);
  const bounded = maglev(options({ hashBalanceFactor: 150 })).build(backends);
  openAll(bounded, home, backends, table, keys, 150, mulberry32(4));
  // Each backend's load per unit of weight stays within 1.5 × the mean per unit of weight (and one connection).
  const perWeight = table.open / 10;
  for (const b of backends) assert.ok(b.active / b.weight <= 1.5 * perWeight + 1, `${b.key}: ${b.active} at weight ${b.weight}`);
});

test('bounded load divides by the ready backends\' weight, which the registry counts as health changes', () => {
  const registry = new Registry({ strategy: maglev(options({ hashBalanceFactor: 125 })), initialHealth: 'up' });
  const backends = [1, 2, 3, 4].map((i) => registry.upsert({ host: '127.0.0.1', port: 9000 + i, weight: i === 4 ? 2 : 1 }).backend);
  assert.equal(registry.counts.readyWeight, 5);
  registry.setHealth(backends[3]!, 'down');
  registry.flush();
  assert.equal(registry.counts.readyWeight, 3);
  // 11 open over 3 ready of weight 1: each may hold ceil(ceil(12 × 1.25) / 3) = 5.
  backends[0]!.active = 5;
  backends[1]!.active = 4;
  backends[2]!.active = 2;
  assert.equal(registry.counts.open, 11);
  for (let i = 0; i < 300; i++) {
    const b = registry.set.picker.pick({ clientIp: clientIp(i) }, ready);
    assert.ok(b === backends[1] || b === backends[2], `${clientIp(i)} reached ${b?.key}`);
  }
  for (const b of backends) b.active = 0;
  assert.equal(registry.counts.open, 0);
});

test('bounded load: when every accepted candidate is over its cap, the key still gets its first accepted choice', () => {
  const table = new SlotTable();
  const backends = makeBackendsIn(table, 1, 1, 1);
  const home = maglev(options()).build(backends);
  const bounded = maglev(options({ hashBalanceFactor: 125 })).build(backends);
  // 20 open: each may hold ceil(ceil(21 × 1.25) / 3) = 9; a and b hold 10, and c, with room, is not accepted.
  backends[0]!.active = 10;
  backends[1]!.active = 10;
  const notC = (b: Backend) => b !== backends[2];
  for (let i = 0; i < 100; i++) assert.equal(bounded.pick({ clientIp: clientIp(i) }, notC), home.pick({ clientIp: clientIp(i) }, notC));
  for (const b of backends) b.active = 0;
});
