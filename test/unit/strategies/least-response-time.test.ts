import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../../src/backends/backend.ts';
import { ALPHA, FLOOR_MS, HALF_LIFE_MS, IDLE_MS, leastResponseTime, recordConnectTime, smoothedConnectTime } from '../../../src/strategies/least-response-time.ts';
import type { Picker } from '../../../src/strategies/strategy.ts';
import { except, makeBackendsIn, nameOf, options, ready, SlotTable } from './fixtures.ts';

/** An epoch time for the injected clock (0 would read as "never measured"). */
const T0 = 1_700_000_000_000;

function setup(...weights: number[]) {
  let clock = 1_000_000;
  const backends = makeBackendsIn(new SlotTable(), ...weights);
  const picker = leastResponseTime(options({ now: () => clock })).build(backends);
  return { backends, picker, at: (t: number) => (clock = t), now: () => clock };
}

/** `count` picks, each opening a connection (active + 1) on the backend picked. */
function open(picker: Picker, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const b = picker.pick({ clientIp: '192.0.2.1' }, ready);
    out.push(nameOf(b));
    if (b) b.active++;
  }
  return out;
}

test('lrt smoothing: the first connect sets the value, each later one moves it by α = 0.3', () => {
  const [b] = makeBackendsIn(new SlotTable(), 1) as [Backend];
  assert.equal(smoothedConnectTime(b, 0), -1);
  recordConnectTime(b, 10, 1000);
  assert.equal(smoothedConnectTime(b, 1000), 10);
  recordConnectTime(b, 20, 1100);
  assert.equal(ALPHA, 0.3);
  assert.equal(smoothedConnectTime(b, 1100), 13);
  recordConnectTime(b, 3, 1200);
  assert.ok(Math.abs(smoothedConnectTime(b, 1200) - 10) < 1e-12);
});

test('lrt smoothing: a value not refreshed for 5s halves every 10s after that, linearly in between (injected clock)', () => {
  const [b] = makeBackendsIn(new SlotTable(), 1) as [Backend];
  recordConnectTime(b, 8, 1000);
  assert.equal(IDLE_MS, 5000);
  assert.equal(HALF_LIFE_MS, 10_000);
  assert.equal(smoothedConnectTime(b, 1000 + 5000), 8);
  assert.equal(smoothedConnectTime(b, 1000 + 15_000), 4);
  assert.equal(smoothedConnectTime(b, 1000 + 25_000), 2);
  // Linear within a half-life: halfway from 4 to 2.
  assert.equal(smoothedConnectTime(b, 1000 + 20_000), 3);
  // A sample after a long idle spell blends with the decayed value, not the stale one.
  recordConnectTime(b, 4, 1000 + 25_000);
  assert.ok(Math.abs(smoothedConnectTime(b, 26_000) - (2 * 0.7 + 4 * 0.3)) < 1e-12);
});

test('lrt picks the lowest smoothed connect time × (open + 1): 1 ms takes 9 connections before 10 ms takes one', () => {
  const { backends, picker, now } = setup(1, 1);
  recordConnectTime(backends[0]!, 1, now());
  recordConnectTime(backends[1]!, 10, now());
  // a: (1 + 0.05) × (n + 1) stays below b's (10 + 0.05) × 1 for n = 0..8.
  assert.equal(FLOOR_MS, 0.05);
  assert.deepEqual(open(picker, 11), ['a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'b', 'a']);
});

test('lrt is weighted: equal times, weights 3:1 take 75% and 25% of 100,000 connections (±1%)', () => {
  const { backends, picker, now } = setup(3, 1);
  recordConnectTime(backends[0]!, 2, now());
  recordConnectTime(backends[1]!, 2, now());
  const names = open(picker, 100_000);
  const a = names.filter((n) => n === 'a').length / names.length;
  assert.ok(Math.abs(a - 0.75) <= 0.01, `a: ${a}`);
});

test('lrt: a backend left idle because it was slow is tried again once its value has decayed below the others\'', () => {
  const { backends, picker, at } = setup(1, 1);
  const [a, b] = backends as [Backend, Backend];
  recordConnectTime(b, 10, at(T0));
  // a connects in 1.1 ms every time it is picked, b in 10 ms, and their connections end at once.
  const pickAt = (t: number) => {
    at(t);
    const got = picker.pick({ clientIp: '192.0.2.1' }, ready)!;
    recordConnectTime(got, got === a ? 1.1 : 10, t);
    return nameOf(got);
  };
  recordConnectTime(a, 1.1, at(T0));
  // Picked every second, a stays at 1.1 ms; b's 10 ms, idle, is 1.25 ms after 5 s + 3 half-lives, 1.125 at 37 s and
  // 1.0625 at 38 s: below a's. b is then tried once, measured at 10 ms again, and a is back.
  const seconds = Array.from({ length: 40 }, (_, i) => pickAt(T0 + (i + 1) * 1000));
  assert.deepEqual(seconds.join(''), `${'a'.repeat(37)}b${'a'.repeat(2)}`);
});

test('lrt: a backend not measured yet counts as the mean of the measured ones', () => {
  const { backends, picker, now } = setup(1, 1, 1);
  recordConnectTime(backends[0]!, 1, now());
  recordConnectTime(backends[1]!, 3, now());
  // c counts as 2 ms: a at 1.05 × 1 first, then a at 1.05 × 2 = 2.1 loses to c's 2.05 × 1.
  assert.deepEqual(open(picker, 2), ['a', 'c']);
});

test('lrt with nothing measured is least connections, ties taking turns', () => {
  const { picker } = setup(1, 1, 1);
  assert.deepEqual(open(picker, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('lrt skips what accept refuses', () => {
  const { backends, picker, now } = setup(1, 1);
  recordConnectTime(backends[0]!, 1, now());
  recordConnectTime(backends[1]!, 50, now());
  assert.equal(nameOf(picker.pick({ clientIp: '192.0.2.1' }, except('a'))), 'b');
});
