import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors.ts';
import { createStrategy, resolveStrategyName, STRATEGY_NAMES } from '../../../src/strategies/index.ts';
import { makeBackends, none, options, ready } from './fixtures.ts';

const NAMES = [
  ['rr', 'round-robin'],
  ['wrr', 'weighted-round-robin'],
  ['srr', 'sticky-round-robin'],
  ['lc', 'least-connections'],
  ['ptc', 'power-of-two-choices'],
  ['lrt', 'least-response-time'],
  ['sih', 'source-ip-hash'],
  ['maglev', 'maglev'],
  ['random', 'random'],
] as const;

test('every strategy resolves by short and long name, case-insensitively', () => {
  for (const [short, long] of NAMES) {
    assert.equal(resolveStrategyName('algo', short), long);
    assert.equal(resolveStrategyName('algo', ` ${long.toUpperCase()} `), long);
    assert.equal(createStrategy(short, options()).name, long);
  }
  assert.deepEqual(STRATEGY_NAMES, [
    'rr|round-robin',
    'wrr|weighted-round-robin',
    'srr|sticky-round-robin',
    'lc|least-connections',
    'ptc|power-of-two-choices',
    'lrt|least-response-time',
    'sih|source-ip-hash',
    'maglev',
    'random',
  ]);
});

test('an unknown name fails with the list of valid ones', () => {
  assert.throws(() => createStrategy('fastest', options()), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.field, 'algo');
    assert.match(err.message, /unknown strategy "fastest" \(valid: rr\|round-robin, .*, random\)/);
    return true;
  });
});

for (const [short] of NAMES) {
  test(`${short}: an empty set gives undefined`, () => {
    const picker = createStrategy(short, options()).build([]);
    assert.equal(picker.pick({ clientIp: '192.0.2.1' }, ready), undefined);
  });

  test(`${short}: nothing accepted gives undefined after a bounded number of questions`, () => {
    const backends = makeBackends(5, 1, 1, 3);
    const picker = createStrategy(short, options()).build(backends);
    assert.equal(picker.pick({ clientIp: '192.0.2.1' }, none), undefined);
    let asked = 0;
    const counting = () => {
      asked++;
      return false;
    };
    assert.equal(picker.pick({ clientIp: '192.0.2.2' }, counting), undefined);
    // Bounded: MAX_TRIES (64) in preference order plus at most a walk of each list (ptc: two).
    assert.ok(asked <= 64 * 2 + backends.length * 2, `asked ${asked} times`);
  });

  test(`${short}: a single accepted backend is always the one picked`, () => {
    const backends = makeBackends(1000, 1000, 1, 1000);
    const picker = createStrategy(short, options()).build(backends);
    for (let i = 0; i < 20; i++) {
      assert.equal(picker.pick({ clientIp: `192.0.2.${i}` }, (b) => b === backends[2]), backends[2]);
    }
  });
}
