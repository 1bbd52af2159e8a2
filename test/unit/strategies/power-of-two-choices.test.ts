import { test } from 'node:test';
import assert from 'node:assert/strict';
import { powerOfTwoChoices } from '../../../src/strategies/power-of-two-choices.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { except, makeBackends, picks, shares } from './fixtures.ts';

const PICKS = 100_000;

function withActive(weights: number[], active: number[]) {
  const backends = makeBackends(...weights);
  for (const [i, b] of backends.entries()) b.active = active[i]!;
  return backends;
}

test('ptc: of two backends, the less loaded one always wins', () => {
  const picker = powerOfTwoChoices({ random: mulberry32(1) }).build(withActive([1, 1], [10, 3]));
  assert.equal(picks(picker, 50).join(''), 'b'.repeat(50));
});

test('ptc: each pair is equally likely, the less loaded of the pair wins', () => {
  // Pairs {a,b} {a,c} {b,c}: a wins two of them, b one, c none.
  const picker = powerOfTwoChoices({ random: mulberry32(2) }).build(withActive([1, 1, 1], [0, 5, 10]));
  const [a, b, c] = shares(picker, PICKS, ['a', 'b', 'c']);
  assert.ok(Math.abs(a! - 2 / 3) < 0.01, `a ${a}`);
  assert.ok(Math.abs(b! - 1 / 3) < 0.01, `b ${b}`);
  assert.equal(c, 0);
});

test('ptc: load is relative to weight', () => {
  // a carries 4 per unit of weight 4 (1.0), b 2 per unit of 1 (2.0): a always wins.
  const picker = powerOfTwoChoices({ random: mulberry32(3) }).build(withActive([4, 1], [4, 2]));
  assert.equal(picks(picker, 20).join(''), 'a'.repeat(20));
});

test('ptc: candidates are drawn by weight, so idle backends share ties in proportion to weight', () => {
  // Both idle: every pick is a tie and the first drawn wins, 3:1.
  const picker = powerOfTwoChoices({ random: mulberry32(8) }).build(withActive([3, 1], [0, 0]));
  const [a, b] = shares(picker, PICKS, ['a', 'b']);
  assert.ok(Math.abs(a! - 0.75) < 0.01, `a ${a}`);
  assert.ok(Math.abs(b! - 0.25) < 0.01, `b ${b}`);
});

test('ptc: ties spread evenly and depend only on the random source', () => {
  const backends = withActive([1, 1, 1, 1], [2, 2, 2, 2]);
  const one = powerOfTwoChoices({ random: mulberry32(4) }).build(backends);
  const two = powerOfTwoChoices({ random: mulberry32(4) }).build(backends);
  assert.deepEqual(picks(one, 200), picks(two, 200));
  for (const share of shares(one, PICKS, ['a', 'b', 'c', 'd'])) assert.ok(Math.abs(share - 0.25) < 0.01, `share ${share}`);
});

test('ptc: a backend that is not accepted is never drawn, however idle', () => {
  const picker = powerOfTwoChoices({ random: mulberry32(5) }).build(withActive([1, 1, 1], [0, 5, 10]));
  const [a, b, c] = shares(picker, 10_000, ['a', 'b', 'c'], except('a'));
  assert.deepEqual([a, b, c], [0, 1, 0]);
});

test('ptc: finds the one accepted backend among many by its fallback walk', () => {
  const backends = withActive(Array.from({ length: 1000 }, () => 1), Array.from({ length: 1000 }, () => 0));
  const picker = powerOfTwoChoices({ random: mulberry32(6) }).build(backends);
  assert.equal(picker.pick({ clientIp: '192.0.2.1' }, (b) => b === backends[777]), backends[777]);
});
