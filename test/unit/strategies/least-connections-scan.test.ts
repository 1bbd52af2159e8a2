/**
 * lc reads the counts through a WebAssembly kernel for ranges of 32 backends
 * or more. These tests run it against a plain model of the strategy (the
 * scan as it was, over `Backend.active`) on random loads, and compare every
 * pick and every backend that `accept` was asked about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeCounts } from '../../../src/backends/active-counts.ts';
import { Backend } from '../../../src/backends/backend.ts';
import type { Accept, Picker } from '../../../src/strategies/strategy.ts';
import { leastConnections } from '../../../src/strategies/least-connections.ts';
import { weightOf } from '../../../src/strategies/weights.ts';
import { mulberry32 } from '../../helpers/random.ts';

/** The strategy's contract, written for clarity: rotation start, exact comparison, accept asked only about a better backend. */
function modelPicker(backends: readonly Backend[]): Picker {
  const n = backends.length;
  let start = 0;
  return {
    pick(_ctx, accept) {
      let best = -1;
      for (let k = 0; k < n && best < 0; k++) if (accept(backends[(start + k) % n]!)) best = (start + k) % n;
      if (best < 0) return undefined;
      const first = best;
      for (let k = 1; k < n; k++) {
        const i = (first + k) % n;
        if (i === start || backends[best]!.active === 0) break;
        const a = backends[i]!;
        const b = backends[best]!;
        if (a.active * weightOf(b) < b.active * weightOf(a) && accept(a)) best = i;
      }
      start = (best + 1) % n;
      return backends[best];
    },
  };
}

interface Case {
  n: number;
  weights: (r: () => number) => number;
  /** A backend's count, drawn now and then. */
  load: (r: () => number) => number;
}

const SMALL = (r: () => number) => Math.floor(r() * 50);
const CASES: Record<string, Case> = {
  'equal weights': { n: 1000, weights: () => 1, load: SMALL },
  'weights 1–5': { n: 1000, weights: (r) => 1 + Math.floor(r() * 5), load: SMALL },
  'weights up to MAX_WEIGHT': { n: 300, weights: (r) => (r() < 0.5 ? 1000 : 1 + Math.floor(r() * 1000)), load: SMALL },
  'counts past the kernel limit, and negative': {
    n: 200,
    weights: (r) => 1 + Math.floor(r() * 1000),
    load: (r) => [0, 5, 2_097_152, 2_147_483, 3_000_000, 2_147_483_647, -1, -1_500_000_000, -2_147_483_648][Math.floor(r() * 9)]!,
  },
  'equal weights, huge counts': { n: 200, weights: () => 7, load: (r) => (r() < 0.5 ? 2_147_483_647 - Math.floor(r() * 3) : -3) },
  'sizes around the JS/kernel threshold': { n: 33, weights: (r) => 1 + Math.floor(r() * 3), load: SMALL },
  'a few backends': { n: 5, weights: (r) => 1 + Math.floor(r() * 3), load: SMALL },
};

/** Runs `picks` picks on the real picker and the model side by side and compares picks and accept calls. */
/** `n` ready backends on ports 1000, 1001, … */
function makeSet(n: number, weight: (i: number) => number): Backend[] {
  return Array.from({ length: n }, (_, i) => new Backend({ host: '10.0.0.1', port: 1000 + i, weight: weight(i) }, 'up'));
}

function compare(name: string, c: Case, seed: number, picks: number, between?: (i: number) => void): void {
  const r = mulberry32(seed);
  const backends = makeSet(c.n, () => c.weights(r));
  for (const b of backends) b.active = c.load(r);
  const real = leastConnections().build(backends);
  const model = modelPicker(backends);
  for (let p = 0; p < picks; p++) {
    // About one backend in five refuses, a different set each pick.
    const refused = new Set(backends.filter(() => r() < 0.2));
    const asked: [Backend[], Backend[]] = [[], []];
    const accept = (k: 0 | 1): Accept => (b) => (asked[k].push(b), !refused.has(b));
    const want = model.pick({ clientIp: '' }, accept(0));
    const got = real.pick({ clientIp: '' }, accept(1));
    assert.equal(got?.port, want?.port, `${name}: pick ${p}`);
    assert.deepEqual(asked[1].map((b) => b.port), asked[0].map((b) => b.port), `${name}: accept calls on pick ${p}`);
    if (got) got.active++;
    // Connections close elsewhere, and now and then a count jumps.
    for (let k = 0; k < 3; k++) backends[Math.floor(r() * c.n)]!.active--;
    if (r() < 0.3) backends[Math.floor(r() * c.n)]!.active = c.load(r);
    between?.(p);
  }
}

for (const [name, c] of Object.entries(CASES)) {
  test(`lc scan matches the model: ${name}`, () => {
    for (const seed of [1, 2, 3]) compare(name, c, seed, 300);
  });
}

const EXACT: { name: string; count: number; weight: number; others: number; expected: string }[] = [
  // -1.5e9 × 2 wraps to +1.29e9 in int32, which would hide the lightest backend.
  { name: 'a product that wraps positive', count: -1_500_000_000, weight: 1, others: 2, expected: '#35' },
  // 3e6 × 1000 wraps to -1.29e9, which would make a heavy backend look light.
  { name: 'a product that wraps negative', count: 3_000_000, weight: 1, others: 1000, expected: '#0' },
];

for (const { name, count, weight, others, expected } of EXACT) {
  test(`lc compares exactly where an int32 product overflows: ${name}`, () => {
    const backends = makeSet(40, (i) => (i === 35 ? weight : others));
    backends.forEach((b, i) => (b.active = i === 35 ? count : 10));
    const picked = leastConnections().build(backends).pick({ clientIp: '' }, (b) => b.ready);
    assert.equal(`#${picked!.port - 1000}`, expected);
  });
}

/**
 * Makes the count table grow (moving the scratch area) with backends whose
 * counts are not 0, so a scan that kept reading the old scratch area would
 * read them as slots and weights.
 */
function growTable(keep: Backend[]): void {
  const layout = activeCounts.layout;
  const add = () => {
    const b = new Backend({ host: '10.0.0.2', port: 1 + (keep.length % 60000), weight: 1 });
    b.active = 1 + (keep.length % 7);
    keep.push(b);
  };
  while (activeCounts.layout === layout) add();
  // New slots now cover the old scratch area: fill it.
  for (let i = 0; i < 2000; i++) add();
}

test('lc scan matches the model while the count table grows and pickers take turns', () => {
  const keep: Backend[] = [];
  // Two pickers alternate, so each pick finds the other one's pairs in the scratch area.
  compare('grows', CASES['weights 1–5']!, 7, 100, (p) => {
    compare('other', CASES['equal weights']!, 100 + p, 1);
    if (p === 20 || p === 60) growTable(keep); // each growth doubles the table: twice is enough
  });
});

test('lc scan stays right when accept itself grows the count table mid-scan', () => {
  const backends = makeSet(500, (i) => 1 + (i % 3));
  backends.forEach((b, i) => (b.active = 1 + ((i * 7919) % 50)));
  const keep: Backend[] = [];
  let calls = 0;
  const growing: Accept = (b) => {
    if (++calls === 2) growTable(keep); // after the scan has started
    return b.ready;
  };
  const want = modelPicker(backends).pick({ clientIp: '' }, (b) => b.ready);
  const layout = activeCounts.layout;
  assert.equal(leastConnections().build(backends).pick({ clientIp: '' }, growing), want);
  assert.notEqual(activeCounts.layout, layout);
});
