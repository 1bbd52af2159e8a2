import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leastConnections } from '../../../src/strategies/least-connections.ts';
import { except, makeBackends, nameOf, picks, ready } from './fixtures.ts';

const cases: { name: string; weights: number[]; active: number[]; expected: string }[] = [
  { name: 'fewest active wins, every time while counts stand still', weights: [1, 1, 1], active: [3, 1, 2], expected: 'bbbb' },
  { name: 'equal backends take turns', weights: [1, 1, 1], active: [0, 0, 0], expected: 'abcabc' },
  { name: 'only the tied least loaded take turns', weights: [1, 1, 1, 1], active: [2, 1, 5, 1], expected: 'bdbdbd' },
  { name: 'load is relative to weight', weights: [3, 1], active: [2, 1], expected: 'aaa' },
  { name: 'equal load per weight is a tie', weights: [2, 1], active: [2, 1], expected: 'abab' },
  { name: 'a heavy backend may carry more before losing', weights: [4, 1], active: [5, 1], expected: 'bbb' },
];

for (const { name, weights, active, expected } of cases) {
  test(`lc: ${name}`, () => {
    const backends = makeBackends(...weights);
    for (const [i, b] of backends.entries()) b.active = active[i]!;
    assert.equal(picks(leastConnections().build(backends), expected.length).join(''), expected);
  });
}

test('lc skips a backend that is not accepted, however idle', () => {
  const backends = makeBackends(1, 1, 1);
  [backends[0]!.active, backends[1]!.active, backends[2]!.active] = [0, 4, 3];
  assert.equal(picks(leastConnections().build(backends), 3, except('a')).join(''), 'ccc');
});

test('lc spreads by weight as connections open', () => {
  const backends = makeBackends(3, 1);
  const picker = leastConnections().build(backends);
  const order: string[] = [];
  for (let i = 0; i < 8; i++) {
    const b = picker.pick({ clientIp: '192.0.2.1' }, ready)!;
    b.active++;
    order.push(nameOf(b));
  }
  // Both idle: a, then b. Then a while a.active/3 < b.active; at 3:1 a tie goes
  // to b (the rotation starts after a), and a catches up again: 6:2.
  assert.equal(order.join(''), 'abaabaaa');
  assert.deepEqual(backends.map((b) => b.active), [6, 2]);
});
