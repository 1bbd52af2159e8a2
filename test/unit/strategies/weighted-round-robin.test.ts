import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlinePicker, REBASE_ROUNDS } from '../../../src/strategies/earliest-deadline.ts';
import { MAX_BUILD_STEPS, MAX_DEADLINE_CYCLE, smoothCycle, weightedRoundRobin } from '../../../src/strategies/weighted-round-robin.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { except, makeBackends, nameOf, picks, ready } from './fixtures.ts';

/** nginx's loop, written out independently: every pick scans every backend. */
function nginx(weights: number[], count: number): string[] {
  const current = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: string[] = [];
  for (let t = 0; t < count; t++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(best < 26 ? String.fromCharCode(97 + best) : `#${best}`);
  }
  return out;
}

const cases: { weights: number[]; expected: string }[] = [
  { weights: [5, 1, 1], expected: 'aabacaa' },
  { weights: [10, 2, 2], expected: 'aabacaa' },
  { weights: [1, 1, 1], expected: 'abc' },
  { weights: [2, 1], expected: 'aba' },
  { weights: [1, 5, 1], expected: 'bbabcbb' },
  { weights: [3, 2], expected: 'ababa' },
  { weights: [7], expected: 'a' },
];

for (const { weights, expected } of cases) {
  test(`wrr ${weights.join(':')} cycles ${expected}`, () => {
    const picker = weightedRoundRobin().build(makeBackends(...weights));
    assert.equal(picks(picker, expected.length * 3).join(''), expected.repeat(3));
  });
}

test('wrr matches nginx pick for pick on random weights', () => {
  const random = mulberry32(7);
  for (let round = 0; round < 20; round++) {
    const weights = Array.from({ length: 1 + Math.floor(random() * 12) }, () => 1 + Math.floor(random() * 20));
    const picker = weightedRoundRobin().build(makeBackends(...weights));
    const total = weights.reduce((a, b) => a + b, 0);
    assert.deepEqual(picks(picker, total * 2), nginx(weights, total * 2), `weights ${weights.join(':')}`);
  }
});

test('wrr passes over a backend that is not accepted and moves on along the cycle', () => {
  const picker = weightedRoundRobin().build(makeBackends(5, 1, 1));
  // Cycle a a b a c a a: b's turn goes to the a after it.
  assert.equal(picks(picker, 12, except('b')).join(''), 'aaacaa'.repeat(2));
  assert.equal(picks(picker, 7, except('a')).join(''), 'bcbcbcb');
});

test('wrr: nginx cycle while cheap, then a precomputed deadline round, then the live deadline heap', () => {
  const names = (weights: number[], count: number) => {
    const backends = makeBackends(...weights);
    const schedule = new DeadlinePicker(backends, Int32Array.from(weights));
    return Array.from({ length: count }, () => nameOf(backends[schedule.next()]));
  };
  // 1,000 backends of weights 1–5: 3,000 × 1,000 steps to simulate, within budget.
  const cheap = Array.from({ length: 1000 }, (_, i) => 1 + (i % 5));
  assert.ok(3000 * 1000 <= MAX_BUILD_STEPS);
  assert.deepEqual(picks(weightedRoundRobin().build(makeBackends(...cheap)), 3000).slice(0, 12), nginx(cheap, 12));
  // 100 backends of weight 999/1000: a cycle of 99,950, 10M steps to simulate: the deadline round instead.
  const costly = Array.from({ length: 100 }, (_, i) => 999 + (i % 2));
  assert.ok(99_950 * 100 > MAX_BUILD_STEPS && 99_950 <= MAX_DEADLINE_CYCLE);
  const precomputed = weightedRoundRobin().build(makeBackends(...costly));
  assert.ok(!(precomputed instanceof DeadlinePicker));
  assert.deepEqual(picks(precomputed, 99_950 + 500), names(costly, 99_950 + 500));
  // 200 of them: 199,900 > MAX_DEADLINE_CYCLE: the live heap.
  assert.ok(weightedRoundRobin().build(makeBackends(...Array.from({ length: 200 }, (_, i) => 999 + (i % 2)))) instanceof DeadlinePicker);
});

test('wrr: weights outside 1..1000 (never valid in config) are clamped, not trusted', () => {
  assert.equal(picks(weightedRoundRobin().build(makeBackends(5000, 1000)), 4).join(''), 'abab');
  assert.equal(picks(weightedRoundRobin().build(makeBackends(2, 0, Number.NaN, -3)), 5).join(''), 'abcda');
  assert.equal(picks(weightedRoundRobin().build(makeBackends(2.7, 1)), 3).join(''), 'aba');
});

test('smoothCycle gives every backend exactly its weight per cycle', () => {
  const cycle = smoothCycle(Int32Array.from([4, 3, 2, 1]));
  const counts = [0, 0, 0, 0];
  for (const i of cycle) counts[i]!++;
  assert.deepEqual(counts, [4, 3, 2, 1]);
});

test('the deadline heap is exact per round and smooth', () => {
  const weights = [5, 1, 1, 3];
  const backends = makeBackends(...weights);
  const picker = new DeadlinePicker(backends, Int32Array.from(weights));
  const sequence = picks(picker, 10 * 50);
  for (let round = 0; round < 50; round++) {
    const slice = sequence.slice(round * 10, round * 10 + 10).sort().join('');
    assert.equal(slice, 'aaaaabcddd');
  }
  // Deadlines a: .1 .3 .5 .7 .9, b and c: .5, d: 1/6 .5 5/6; ties by order.
  assert.equal(sequence.slice(0, 10).join(''), 'adaabcdada');
  // No bursts: a backend of weight w is never left waiting more than twice its ideal spacing of 10/w picks.
  for (const [i, w] of weights.entries()) {
    const at = sequence.flatMap((name, k) => (name === nameOf(backends[i]) ? [k] : []));
    for (let k = 1; k < at.length; k++) {
      const gap = at[k]! - at[k - 1]!;
      assert.ok(gap <= 2 * Math.ceil(10 / w), `${nameOf(backends[i])} waited ${gap} picks`);
    }
  }
});

test('the deadline heap passes over a backend that is not accepted', () => {
  const weights = [5, 1, 1, 3];
  const picker = new DeadlinePicker(makeBackends(...weights), Int32Array.from(weights));
  // The order a d a a b c d a d a without a's turns.
  assert.equal(picks(picker, 10, except('a')).join(''), 'dbcdd'.repeat(2));
  assert.equal(picker.pick({ clientIp: '192.0.2.1' }, () => false), undefined);
});

for (const count of [100, 200]) {
  test(`wrr on ${count} heavy backends and a light one is exact per round and never starves the light one`, () => {
    const weights = Array.from({ length: count }, (_, i) => (i === 0 ? 1 : 999 + (i % 2)));
    const picker = weightedRoundRobin().build(makeBackends(...weights));
    assert.equal(picker instanceof DeadlinePicker, count === 200);
    const total = weights.reduce((a, b) => a + b);
    const counts = new Map<string, number>();
    for (let k = 0; k < total; k++) {
      const name = nameOf(picker.pick({ clientIp: '192.0.2.1' }, ready));
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    assert.equal(counts.get('a'), 1);
    assert.equal(counts.get('b'), 1000);
    assert.equal(counts.get('c'), 999);
  });
}

/**
 * The deadline schedule written out independently: every turn of a round as
 * the exact fraction (2k+1)/2w, compared by cross-multiplication, ties by
 * index. Each round's deadlines are the previous round's plus one, so the
 * whole sequence is this round repeated.
 */
function referenceRound(weights: readonly number[]): number[] {
  const turns: { index: number; num: number; den: number }[] = [];
  weights.forEach((w, index) => {
    for (let k = 0; k < w; k++) turns.push({ index, num: 2 * k + 1, den: 2 * w });
  });
  turns.sort((a, b) => a.num * b.den - b.num * a.den || a.index - b.index);
  return turns.map((t) => t.index);
}

/** `count` indexes from the deadline heap, optionally rebasing every `rebaseRounds` rounds. */
function schedule(weights: readonly number[], count: number, rebaseRounds?: number): number[] {
  const picker = new DeadlinePicker(makeBackends(...weights), Int32Array.from(weights), rebaseRounds);
  return Array.from({ length: count }, () => picker.next());
}

function repeated(round: readonly number[], count: number): number[] {
  return Array.from({ length: count }, (_, t) => round[t % round.length]!);
}

test('the deadline heap matches the exact-fraction schedule on random weights, equal ones included', () => {
  const random = mulberry32(11);
  const draws: ((i: number) => number)[] = [
    () => 1 + Math.floor(random() * 1000),
    () => [1, 2, 999, 1000][Math.floor(random() * 4)]!,
    () => 1 + Math.floor(random() * 3),
    () => 1000,
    (i) => (i % 7 === 0 ? 999 : 1000),
  ];
  for (const [d, draw] of draws.entries()) {
    for (const n of [1, 2, 17, 129, 300]) {
      const weights = Array.from({ length: n }, (_, i) => draw(i));
      const round = referenceRound(weights);
      const count = Math.min(2 * round.length + 100, 200_000);
      assert.deepEqual(schedule(weights, count), repeated(round, count), `draw ${d}, ${n} backends`);
    }
  }
});

test('rebasing every 3 rounds or every REBASE_ROUNDS does not change the sequence', () => {
  const random = mulberry32(3);
  // Light: 200,000 picks run past REBASE_ROUNDS, so the default rebases too.
  const light = Array.from({ length: 15 }, () => 1 + Math.floor(random() * 9));
  assert.ok(200_000 / light.reduce((a, b) => a + b) > REBASE_ROUNDS);
  // Heavy: many rounds of near-coincident deadlines, rebased every 3.
  const heavy = Array.from({ length: 40 }, (_, i) => [1, 7, 999, 1000][i % 4]!);
  for (const weights of [light, heavy]) {
    const often = schedule(weights, 200_000, 3);
    assert.deepEqual(often, schedule(weights, 200_000), `weights ${weights.join(':')}`);
    assert.deepEqual(often, repeated(referenceRound(weights), 200_000), `weights ${weights.join(':')}`);
  }
});
