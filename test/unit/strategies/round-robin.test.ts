import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundRobin } from '../../../src/strategies/round-robin.ts';
import { except, makeBackends, picks } from './fixtures.ts';

test('rr rotates in registration order, ignoring weights', () => {
  const picker = roundRobin().build(makeBackends(5, 1, 1));
  assert.equal(picks(picker, 7).join(''), 'abcabca');
});

test('rr skips a backend that is not accepted and the rotation moves past it', () => {
  const picker = roundRobin().build(makeBackends(1, 1, 1, 1));
  assert.equal(picks(picker, 6, except('b')).join(''), 'acdacd');
  assert.equal(picks(picker, 4).join(''), 'abcd');
});
