import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../../src/backends/backend.ts';
import { hashString } from '../../../src/strategies/hash.ts';
import { sourceIpHash } from '../../../src/strategies/maglev.ts';
import type { Accept, Picker } from '../../../src/strategies/strategy.ts';
import { clientIp, except, makeBackends, nameOf, options, ready } from './fixtures.ts';

const IPS = 60_000;

function pickName(picker: Picker, ip: string, accept: Accept = ready): string {
  return nameOf(picker.pick({ clientIp: ip }, accept));
}

/** Every backend an IP can reach, in the order it reaches them as its choices are refused one by one. */
function fallbackOrder(picker: Picker, ip: string, count: number): string[] {
  const refused: string[] = [];
  for (let i = 0; i < count; i++) refused.push(pickName(picker, ip, except(...refused)));
  return refused;
}

function spread(picker: Picker, names: readonly string[]): number[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < IPS; i++) {
    const name = pickName(picker, clientIp(i));
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return names.map((n) => (counts.get(n) ?? 0) / IPS);
}

test('hashString is FNV-1a 32 (0x811c9dc5 for "", 0xe40c292c for "a") finished with fmix32', () => {
  const cases: [string, number][] = [
    ['', 0xab3e7c0b],
    ['a', 0x1a80b1b3],
    ['10.0.0.1', 0xaebc85ae],
    ['2001:db8::1', 0xe5777f3a],
  ];
  for (const [text, expected] of cases) assert.equal(hashString(text), expected, text);
});

test('sih: one IP always reaches the same backend, whoever asked before', () => {
  const picker = sourceIpHash(options()).build(makeBackends(1, 1, 1, 1, 1));
  const first = pickName(picker, '198.51.100.7');
  for (let i = 0; i < 100; i++) {
    pickName(picker, clientIp(i));
    assert.equal(pickName(picker, '198.51.100.7'), first);
  }
  // A second picker over the same set agrees.
  assert.equal(pickName(sourceIpHash(options()).build(makeBackends(1, 1, 1, 1, 1)), '198.51.100.7'), first);
});

const spreads: { weights: number[]; expected: number[] }[] = [
  { weights: [1, 1, 1], expected: [1 / 3, 1 / 3, 1 / 3] },
  { weights: [3, 1], expected: [0.75, 0.25] },
  { weights: [5, 1, 1, 3], expected: [0.5, 0.1, 0.1, 0.3] },
  { weights: Array.from({ length: 20 }, () => 2), expected: Array.from({ length: 20 }, () => 0.05) },
];

for (const { weights, expected } of spreads) {
  test(`sih: different IPs spread by weight ${weights.length > 4 ? `(${weights.length} equal)` : weights.join(':')}, ±1%`, () => {
    const names = weights.map((_, i) => String.fromCharCode(97 + i));
    const got = spread(sourceIpHash(options()).build(makeBackends(...weights)), names);
    for (const [i, share] of got.entries()) {
      assert.ok(Math.abs(share - expected[i]!) <= 0.01, `${names[i]}: ${share} vs ${expected[i]}`);
    }
  });
}

test('sih: an IP stays on its backend while another backend is not accepted', () => {
  const picker = sourceIpHash(options()).build(makeBackends(1, 1, 1, 1));
  for (let i = 0; i < 2000; i++) {
    const ip = clientIp(i);
    const home = pickName(picker, ip);
    for (const other of ['a', 'b', 'c', 'd']) {
      if (other !== home) assert.equal(pickName(picker, ip, except(other)), home);
    }
  }
});

test('sih: the fallback order is fixed per IP, covers every backend and is the same every time', () => {
  const backends = makeBackends(1, 1, 1, 1, 1);
  const picker = sourceIpHash(options()).build(backends);
  const again = sourceIpHash(options()).build(backends);
  const orders = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const order = fallbackOrder(picker, clientIp(i), 6);
    assert.equal(order[5], '-');
    assert.deepEqual([...order.slice(0, 5)].sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(fallbackOrder(picker, clientIp(i), 6), order);
    assert.deepEqual(fallbackOrder(again, clientIp(i), 6), order);
    orders.add(order.join(''));
  }
  // Orders differ between IPs, so one backend's clients do not all land on the same neighbour.
  assert.ok(orders.size > 50, `${orders.size} distinct orders`);
});

test("sih: a refused backend's clients spread over the others by weight", () => {
  const picker = sourceIpHash(options()).build(makeBackends(2, 1, 1, 2));
  const moved = new Map<string, number>();
  let homedOnA = 0;
  for (let i = 0; i < IPS; i++) {
    if (pickName(picker, clientIp(i)) !== 'a') continue;
    homedOnA++;
    const to = pickName(picker, clientIp(i), except('a'));
    moved.set(to, (moved.get(to) ?? 0) + 1);
  }
  const share = (n: string) => (moved.get(n) ?? 0) / homedOnA;
  assert.ok(Math.abs(share('b') - 0.25) < 0.03 && Math.abs(share('c') - 0.25) < 0.03 && Math.abs(share('d') - 0.5) < 0.03, JSON.stringify([...moved]));
});

test('sih: adding a backend moves only about its share of IPs', () => {
  const ten = makeBackends(...Array.from({ length: 11 }, () => 1));
  const before = sourceIpHash(options()).build(ten.slice(0, 10));
  const after = sourceIpHash(options()).build(ten);
  let moved = 0;
  let movedElsewhere = 0;
  for (let i = 0; i < IPS; i++) {
    const was = before.pick({ clientIp: clientIp(i) }, ready) as Backend;
    const now = after.pick({ clientIp: clientIp(i) }, ready) as Backend;
    if (was !== now) moved++;
    if (was !== now && now !== ten[10]) movedElsewhere++;
  }
  // The new backend takes 1/11 (9.1%); Maglev reshuffles a little beyond that.
  assert.ok(moved / IPS < 0.15, `moved ${moved / IPS}`);
  assert.ok(movedElsewhere / IPS < 0.06, `moved elsewhere ${movedElsewhere / IPS}`);
});

test('sih: in a capped table a backend of weight 1 among heavy ones still gets clients', () => {
  // 140 × 1000 + 1 weight units: by weight alone, the light one's first turn (at half a round) would
  // come after 70,000 heavy turns, and the table has only 65,537 slots.
  const backends = makeBackends(...Array.from({ length: 140 }, () => 1000), 1);
  const picker = sourceIpHash(options()).build(backends);
  let light = 0;
  for (let i = 0; i < 400_000; i++) {
    if (picker.pick({ clientIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, ready) === backends[140]) light++;
  }
  assert.ok(light > 0 && light < 40, `${light} clients`);
});
