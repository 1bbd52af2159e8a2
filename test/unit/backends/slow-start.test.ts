/**
 * Slow start with an injected clock: a backend that joins (or comes back)
 * takes a share that grows in tenths from ~5% to 100% of its weight over the
 * window, in every strategy that uses weights or counts, while the backends
 * the registry started with take their full weight at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../../src/backends/backend.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { createStrategy } from '../../../src/strategies/index.ts';
import { mulberry32 } from '../../helpers/random.ts';

const WINDOW = 10_000;

function setup(algo: string) {
  let now = 1_000_000;
  const registry = new Registry({
    strategy: createStrategy(algo, { random: mulberry32(7), now: () => now, stickyTtlMs: 60_000, stickyMaxEntries: 1000 }),
    initialHealth: 'up',
    slowStartMs: WINDOW,
    now: () => now,
  });
  registry.initial(() => {
    registry.upsert({ host: '127.0.0.1', port: 9001, weight: 1 });
    registry.upsert({ host: '127.0.0.1', port: 9002, weight: 1 });
  });
  return {
    registry,
    advance(ms: number) {
      now += ms;
      registry.refreshSlowStart();
      registry.flush();
    },
  };
}

/** Share of `target` over `count` picks; with `open`, each pick stays open (counts grow, as least-connections needs). */
function share(registry: Registry, target: Backend, count: number, open: boolean): number {
  const picker = registry.set.picker;
  const taken: Backend[] = [];
  let hits = 0;
  for (let i = 0; i < count; i++) {
    const b = picker.pick({ clientIp: '192.0.2.1' }, (x) => x.ready)!;
    if (b === target) hits++;
    if (open) {
      b.active++;
      taken.push(b);
    }
  }
  for (const b of taken) b.active--;
  return hits / count;
}

for (const [algo, open] of [['weighted-round-robin', false], ['random', false], ['power-of-two-choices', true], ['least-connections', true]] as const) {
  test(`${algo}: a joining backend's share follows the ramp, step by step, then is full`, () => {
    const { registry, advance } = setup(algo);
    const [a, b] = registry.list();
    assert.equal(a!.slowStartFactor, 1, 'started with: no slow start');
    assert.equal(b!.effectiveWeight, 1);
    const { backend: c } = registry.upsert({ host: '127.0.0.1', port: 9003, weight: 1 });
    registry.flush();
    const measured: number[] = [];
    for (let step = 0; step < 10; step++) {
      const factor = (step + 0.5) / 10;
      assert.equal(c.slowStartFactor, factor, `step ${step}`);
      assert.equal(c.effectiveWeight, factor);
      const got = share(registry, c, 4000, open);
      measured.push(Math.round(got * 1000) / 1000);
      const expected = factor / (2 + factor);
      assert.ok(Math.abs(got - expected) < 0.025, `step ${step}: share ${got}, expected ${expected.toFixed(3)} (${measured.join(' ')})`);
      advance(WINDOW / 10);
    }
    assert.equal(c.slowStartFactor, 1);
    assert.equal(c.pickWeight, 0, 'weights back to plain once no slow start runs');
    assert.ok(Math.abs(share(registry, c, 3000, open) - 1 / 3) < 0.025);
  });
}

test('a backend back from down slow-starts again; one back from draining too; a removed one stops', () => {
  const { registry, advance } = setup('weighted-round-robin');
  const [a, b] = registry.list() as Backend[];
  registry.setHealth(a!, 'down');
  advance(1000);
  registry.setHealth(a!, 'up');
  assert.equal(a!.slowStartFactor, 0.05);
  advance(WINDOW / 2);
  assert.equal(a!.slowStartFactor, 0.55);
  // Down mid-ramp: the ramp is over; back up, it starts from the beginning.
  registry.setHealth(a!, 'down');
  assert.equal(a!.slowStartFactor, 1);
  registry.setHealth(a!, 'up');
  assert.equal(a!.slowStartFactor, 0.05);
  registry.setAdminState(b!, 'draining');
  registry.setAdminState(b!, 'active');
  assert.equal(b!.slowStartFactor, 0.05);
  registry.remove(b!);
  advance(WINDOW);
  assert.equal(a!.slowStartFactor, 1);
  registry.close();
});

test('a backend\'s own window wins over the service\'s; 0 turns slow start off for it', () => {
  const { registry, advance } = setup('random');
  const { backend: quick } = registry.upsert({ host: '127.0.0.1', port: 9003, weight: 1, slowStartMs: 1000 });
  const { backend: none } = registry.upsert({ host: '127.0.0.1', port: 9004, weight: 1, slowStartMs: 0 });
  assert.equal(none.slowStartFactor, 1);
  assert.equal(quick.slowStartFactor, 0.05);
  advance(500);
  assert.equal(quick.slowStartFactor, 0.55);
  advance(500);
  assert.equal(quick.slowStartFactor, 1);
});

test('weights are scaled while a ramp runs, so heavy backends keep their proportions', () => {
  const { registry } = setup('weighted-round-robin');
  const { backend: heavy } = registry.upsert({ host: '127.0.0.1', port: 9003, weight: 100 });
  registry.flush();
  const [a] = registry.list();
  // max weight 100: scale 10; the ramping weight-100 backend takes 5% of 1000.
  assert.equal(a!.pickWeight, 10);
  assert.equal(heavy.pickWeight, 50);
  assert.equal(heavy.effectiveWeight, 5);
});
