import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weightedRandom } from '../../../src/strategies/weighted-random.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { except, makeBackends, picks, shares } from './fixtures.ts';

const PICKS = 100_000;
const TOLERANCE = 0.01;

const cases: { weights: number[]; expected: number[]; accept?: string }[] = [
  { weights: [1, 1, 1, 1], expected: [0.25, 0.25, 0.25, 0.25] },
  { weights: [5, 3, 2], expected: [0.5, 0.3, 0.2] },
  { weights: [1000, 1, 1], expected: [1000 / 1002, 1 / 1002, 1 / 1002] },
  { weights: [97, 1, 1, 1], expected: [0.97, 0.01, 0.01, 0.01] },
  // Without a, b and c keep their 3:2 ratio.
  { weights: [5, 3, 2], expected: [0, 0.6, 0.4], accept: 'a' },
];

for (const { weights, expected, accept } of cases) {
  test(`random ${weights.join(':')}${accept ? ` without ${accept}` : ''} gives shares ${expected.map((e) => e.toFixed(3)).join(' ')} ±1%`, () => {
    const picker = weightedRandom({ random: mulberry32(11) }).build(makeBackends(...weights));
    const names = weights.map((_, i) => String.fromCharCode(97 + i));
    const got = shares(picker, PICKS, names, accept ? except(accept) : undefined);
    for (const [i, share] of got.entries()) {
      assert.ok(Math.abs(share - expected[i]!) <= TOLERANCE, `${names[i]}: ${share} vs ${expected[i]}`);
    }
    if (accept) assert.equal(got[0], 0);
  });
}

test('random is reproducible from its source', () => {
  const backends = makeBackends(5, 3, 2);
  const one = weightedRandom({ random: mulberry32(12) }).build(backends);
  const two = weightedRandom({ random: mulberry32(12) }).build(backends);
  assert.deepEqual(picks(one, 100), picks(two, 100));
});

test('random spends one draw per candidate', () => {
  let draws = 0;
  const source = mulberry32(13);
  const picker = weightedRandom({ random: () => (draws++, source()) }).build(makeBackends(5, 3, 2));
  picks(picker, 1000);
  assert.equal(draws, 1000);
});
