import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../../src/backends/backend.ts';
import { isPrime, nextPrime, tableSizeFor } from '../../../src/strategies/maglev-table.ts';
import { maglev } from '../../../src/strategies/maglev.ts';
import type { Picker, StrategyOptions } from '../../../src/strategies/strategy.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { clientIp, makeBackends, nameOf, options, ready } from './fixtures.ts';

interface Inspectable extends Picker {
  readonly table: Uint32Array;
}

function build(backends: readonly Backend[], overrides: Partial<StrategyOptions> = {}): Inspectable {
  return maglev(options(overrides)).build(backends) as Inspectable;
}

/** The table as backend keys, slot by slot: what two instances must agree on. */
function keysOf(picker: Inspectable, backends: readonly Backend[]): string[] {
  const sorted = [...backends].map((b) => b.key).sort();
  return Array.from(picker.table, (i) => sorted[i]!);
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `count` backends at distinct addresses, `weight(i)` each. */
function many(count: number, weight: (i: number) => number = () => 1): Backend[] {
  return Array.from({ length: count }, (_, i) => new Backend({ host: `10.1.${i >> 8}.${i & 255}`, port: 5432, weight: weight(i) }, 'up'));
}

test('maglev: every order of a weighted set of 5 gives the same table (all 120 permutations)', () => {
  const backends = makeBackends(3, 1, 2, 1, 5);
  const expected = keysOf(build(backends), backends);
  const orders = permutations(backends);
  assert.equal(orders.length, 120);
  for (const order of orders) assert.deepEqual(keysOf(build(order), order), expected);
});

test('maglev: random orders of 300 weighted backends give the same table, and so the same pick for every key', () => {
  const backends = many(300, (i) => 1 + (i % 4));
  const hash = { key: 'client-ip', table: 30_011 } as const;
  const reference = build(backends, { hash });
  const expected = keysOf(reference, backends);
  const random = mulberry32(7);
  for (let round = 0; round < 10; round++) {
    const order = shuffled(backends, random);
    const picker = build(order, { hash });
    assert.deepEqual(keysOf(picker, order), expected);
    for (let i = 0; i < 1000; i++) assert.equal(picker.pick({ clientIp: clientIp(i) }, ready), reference.pick({ clientIp: clientIp(i) }, ready));
  }
});

test('maglev: removing one of 10 backends moves its tenth of the table and almost nothing else', () => {
  // Maglev's promise is about 1/10; measured 10.17-10.29% for each of the 10 (the removed one's 10%, 0.2-0.3% more).
  const ten = many(10);
  const before = keysOf(build(ten), ten);
  for (const gone of ten) {
    const rest = ten.filter((b) => b !== gone);
    const after = keysOf(build(rest), rest);
    let moved = 0;
    let movedElsewhere = 0;
    for (let slot = 0; slot < before.length; slot++) {
      if (before[slot] === after[slot]) continue;
      moved++;
      if (before[slot] !== gone.key) movedElsewhere++;
    }
    const share = moved / before.length;
    assert.ok(share >= 0.1 && share <= 0.11, `${gone.key}: ${share} of the slots moved`);
    assert.ok(movedElsewhere / before.length <= 0.01, `${gone.key}: ${movedElsewhere / before.length} moved between the others`);
  }
});

test('maglev: at 1,000 equal backends every one holds 100 or 101 of the 100,003 slots', () => {
  const backends = many(1000);
  const picker = build(backends);
  assert.equal(picker.table.length, 100_003); // 65,537 grew to the first prime at 100 slots a backend
  const counts = new Uint32Array(1000);
  for (const i of picker.table) counts[i]!++;
  assert.equal(Math.max(...counts), 101);
  assert.equal(Math.min(...counts), 100);
});

test('maglev: slots and keys follow the weights 5:1:1:3, ±1% over 100,000 keys', () => {
  const backends = makeBackends(5, 1, 1, 3);
  const picker = build(backends, { hash: { key: 'client-ip-port', table: 65_537 } });
  const counts = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    const name = nameOf(picker.pick({ clientIp: clientIp(i % 50), clientPort: 1024 + i }, ready));
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const expected: Record<string, number> = { a: 0.5, b: 0.1, c: 0.1, d: 0.3 };
  for (const [name, share] of Object.entries(expected)) {
    const got = (counts.get(name) ?? 0) / 100_000;
    assert.ok(Math.abs(got - share) <= 0.01, `${name}: ${got} vs ${share}`);
  }
});

test('maglev keys: client-ip ignores the port, client-ip-port spreads one IP, sni hashes the server name and falls back to the IP', () => {
  const backends = makeBackends(1, 1, 1, 1, 1, 1, 1, 1);
  const byIp = build(backends);
  const byPort = build(backends, { hash: { key: 'client-ip-port', table: 65_537 } });
  const bySni = build(backends, { hash: { key: 'sni', table: 65_537 } });
  const ip = '198.51.100.9';
  const ports = new Set<string>();
  for (let port = 40_000; port < 40_200; port++) {
    assert.equal(byIp.pick({ clientIp: ip, clientPort: port }, ready), byIp.pick({ clientIp: ip }, ready));
    ports.add(nameOf(byPort.pick({ clientIp: ip, clientPort: port }, ready)));
    // The same port always reaches the same backend.
    assert.equal(byPort.pick({ clientIp: ip, clientPort: port }, ready), byPort.pick({ clientIp: ip, clientPort: port }, ready));
  }
  assert.equal(ports.size, 8);
  const names = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const sni = `tenant-${i}.example.com`;
    const home = bySni.pick({ clientIp: clientIp(i), sni }, ready);
    // The server name decides, whatever the client address.
    assert.equal(bySni.pick({ clientIp: '203.0.113.1', sni }, ready), home);
    names.add(nameOf(home));
    // Without one, the client IP: what client-ip would pick.
    assert.equal(bySni.pick({ clientIp: clientIp(i) }, ready), byIp.pick({ clientIp: clientIp(i) }, ready));
    assert.equal(bySni.pick({ clientIp: clientIp(i), sni: undefined }, ready), byIp.pick({ clientIp: clientIp(i) }, ready));
  }
  assert.equal(names.size, 8);
});

test('maglev table size: the configured prime while it holds 100 slots a backend, then the next prime past 100 × backends, with one warning', () => {
  assert.equal(tableSizeFor(65_537, 655), 65_537);
  assert.equal(tableSizeFor(65_537, 656), nextPrime(65_600));
  assert.ok(isPrime(nextPrime(65_600)) && nextPrime(65_600) >= 65_600);
  const warnings: string[] = [];
  const strategy = maglev(options({ hash: { key: 'client-ip', table: 1009 }, warn: (m) => warnings.push(m) }));
  assert.equal((strategy.build(many(10)) as Inspectable).table.length, 1009);
  assert.deepEqual(warnings, []);
  assert.equal((strategy.build(many(11)) as Inspectable).table.length, 1103);
  assert.equal((strategy.build(many(11)) as Inspectable).table.length, 1103);
  assert.deepEqual(warnings, ['maglev: 11 backends outgrew hash.table 1009 (at least 100 slots each): the table grows to 1103, the smallest prime that fits, as on every instance with this set']);
  assert.equal((strategy.build(many(5)) as Inspectable).table.length, 1009);
});
