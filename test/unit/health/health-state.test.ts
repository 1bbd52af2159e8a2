import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Health } from '../../../src/backends/backend.ts';
import { HealthState } from '../../../src/health/health-state.ts';

/** `steps`: 'P' pass, 'F' fail, 'E' eject. `expected`: the status after each step, '*' marking a flip. */
const cases: { name: string; rise: number; fall: number; initial: Health; steps: string; expected: string[] }[] = [
  { name: 'unknown settles up on the first pass', rise: 2, fall: 3, initial: 'unknown', steps: 'P', expected: ['up*'] },
  { name: 'unknown settles down on the first fail', rise: 2, fall: 3, initial: 'unknown', steps: 'F', expected: ['down*'] },
  { name: 'fall=3: down on the third failure in a row', rise: 2, fall: 3, initial: 'up', steps: 'FFF', expected: ['up', 'up', 'down*'] },
  { name: 'a pass in between restarts the count', rise: 2, fall: 3, initial: 'up', steps: 'FFPFFF', expected: ['up', 'up', 'up', 'up', 'up', 'down*'] },
  { name: 'rise=2: back on the second pass in a row', rise: 2, fall: 3, initial: 'down', steps: 'PP', expected: ['down', 'up*'] },
  { name: 'a failure in between restarts the rise', rise: 2, fall: 3, initial: 'down', steps: 'PFPP', expected: ['down', 'down', 'down', 'up*'] },
  { name: 'nothing flips while the state holds', rise: 2, fall: 3, initial: 'up', steps: 'PPPP', expected: ['up', 'up', 'up', 'up'] },
  { name: 'rise=1 fall=1 flips on every change', rise: 1, fall: 1, initial: 'up', steps: 'FFPPF', expected: ['down*', 'down', 'up*', 'up', 'down*'] },
  { name: 'eject takes an up backend down at once', rise: 2, fall: 3, initial: 'up', steps: 'FE', expected: ['up', 'down*'] },
  { name: 'after an ejection one pass readmits', rise: 3, fall: 3, initial: 'up', steps: 'EP', expected: ['down*', 'up*'] },
  { name: 'after an ejection a failed probe makes rise apply again', rise: 3, fall: 3, initial: 'up', steps: 'EFPPP', expected: ['down*', 'down', 'down', 'down', 'up*'] },
  { name: 'ejecting a down backend is no flip', rise: 2, fall: 1, initial: 'up', steps: 'FE', expected: ['down*', 'down'] },
  { name: 'the streak restarts after a flip', rise: 2, fall: 2, initial: 'up', steps: 'FFPFP', expected: ['up', 'down*', 'down', 'down', 'down'] },
];

for (const c of cases) {
  test(`health state: ${c.name}`, () => {
    const state = new HealthState({ rise: c.rise, fall: c.fall }, c.initial);
    const got = [...c.steps].map((step) => {
      const result = step === 'E' ? state.eject() : state.observe(step === 'P');
      return `${state.status}${result === 'changed' ? '*' : ''}`;
    });
    assert.deepEqual(got, c.expected);
  });
}

test('health state: rise and fall below 1 are refused', () => {
  assert.throws(() => new HealthState({ rise: 0, fall: 3 }), RangeError);
  assert.throws(() => new HealthState({ rise: 2, fall: 0 }), RangeError);
});
