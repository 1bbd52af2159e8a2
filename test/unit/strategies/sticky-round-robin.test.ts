import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../../src/backends/backend.ts';
import type { Accept, Picker } from '../../../src/strategies/strategy.ts';
import { stickyRoundRobin } from '../../../src/strategies/sticky-round-robin.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { except, makeBackends, nameOf, ready } from './fixtures.ts';

/** Picks for each IP in turn, as `ip:backend`. */
function visit(picker: Picker, ips: string, accept: Accept = ready): string {
  return [...ips].map((ip) => `${ip}${nameOf(picker.pick({ clientIp: ip }, accept))}`).join(' ');
}

function setup(overrides: { ttl?: number; max?: number } = {}) {
  let clock = 0;
  const strategy = stickyRoundRobin({
    stickyTtlMs: overrides.ttl ?? 1000,
    stickyMaxEntries: overrides.max ?? 100,
    now: () => clock,
  });
  return { strategy, advance: (ms: number) => (clock += ms) };
}

test('srr: first connections go round robin, later ones stick to their backend', () => {
  const { strategy } = setup();
  const picker = strategy.build(makeBackends(1, 1, 1));
  assert.equal(visit(picker, 'ABCD'), 'Aa Bb Cc Da');
  assert.equal(visit(picker, 'DCBAAA'), 'Da Cc Bb Aa Aa Aa');
  // New IPs carry on the rotation where it was.
  assert.equal(visit(picker, 'EF'), 'Eb Fc');
});

test('srr: a client whose backend is not accepted moves on by round robin, and stays moved', () => {
  const { strategy } = setup();
  const picker = strategy.build(makeBackends(1, 1, 1));
  assert.equal(visit(picker, 'ABCD'), 'Aa Bb Cc Da');
  assert.equal(visit(picker, 'A', except('a')), 'Ab');
  assert.equal(visit(picker, 'D', except('a')), 'Dc');
  assert.equal(visit(picker, 'ADB'), 'Ab Dc Bb');
  assert.equal(visit(picker, 'A', () => false), 'A-');
  assert.equal(visit(picker, 'A'), 'Ab');
});

test('srr: an entry expires after the TTL without connections; each connection renews it', () => {
  const { strategy, advance } = setup({ ttl: 1000 });
  const picker = strategy.build(makeBackends(1, 1, 1));
  assert.equal(visit(picker, 'AB'), 'Aa Bb');
  advance(999);
  assert.equal(visit(picker, 'A'), 'Aa');
  advance(999);
  // A was seen 999 ms ago and stays; B, idle for 1,998 ms, is dealt a new backend.
  assert.equal(visit(picker, 'AB'), 'Aa Bc');
  advance(1000);
  // Both expired now: the rotation (at a) deals them new backends.
  assert.equal(visit(picker, 'BA'), 'Ba Ab');
});

test('srr: the table forgets the least recently seen client first', () => {
  const { strategy } = setup({ max: 2 });
  const picker = strategy.build(makeBackends(1, 1, 1, 1));
  assert.equal(visit(picker, 'ABAC'), 'Aa Bb Aa Cc');
  // C pushed out B, seen longer ago than A: A keeps a where the rotation is at d,
  // and B is dealt d.
  assert.equal(visit(picker, 'AB'), 'Aa Bd');
});

test('srr: stickiness survives a rebuild and follows the key, not the object', () => {
  const { strategy } = setup();
  const [a, b, c] = makeBackends(1, 1, 1) as [Backend, Backend, Backend];
  assert.equal(visit(strategy.build([a, b, c]), 'ABC'), 'Aa Bb Cc');
  const d = new Backend({ host: '127.0.0.1', port: 9004, weight: 1 }, 'up');
  const next = strategy.build([d, c, b]);
  assert.equal(visit(next, 'CBA'), 'Cc Bb Ad');
  // A copy with c's address is c, as far as the table is concerned.
  const c2 = new Backend({ host: '127.0.0.1', port: 9003, weight: 1 }, 'up');
  const picker = strategy.build([a, c2]);
  assert.equal(picker.pick({ clientIp: 'C' }, ready), c2);
});

/** The table as the plain Map it stands for: insertion order is recency order, a touch re-inserts. */
class ModelSrr {
  readonly table = new Map<string, { key: string; seen: number }>();
  next = 0;
  backends: Backend[];
  readonly ttl: number;
  readonly max: number;
  constructor(backends: Backend[], ttl: number, max: number) {
    this.backends = backends;
    this.ttl = ttl;
    this.max = max;
  }

  pick(ip: string, accept: Accept, now: number): Backend | undefined {
    const entry = this.table.get(ip);
    if (entry && now - entry.seen < this.ttl) {
      const b = this.backends.find((x) => x.key === entry.key);
      if (b && accept(b)) return this.#remember(ip, b, now);
    }
    for (let i = 0; i < this.backends.length; i++) {
      const b = this.backends[this.next]!;
      this.next = (this.next + 1) % this.backends.length;
      if (accept(b)) return this.#remember(ip, b, now);
    }
    return undefined;
  }

  #remember(ip: string, b: Backend, now: number): Backend {
    if (!this.table.delete(ip)) {
      for (const [oldIp, old] of this.table) {
        if (this.table.size < this.max && now - old.seen < this.ttl) break;
        this.table.delete(oldIp);
      }
    }
    this.table.set(ip, { key: b.key, seen: now });
    return b;
  }
}

test('srr agrees with a plain-Map model over 20,000 random connections and 20 rebuilds', () => {
  const random = mulberry32(21);
  const all = makeBackends(1, 1, 1, 1, 1, 1);
  let clock = 0;
  const strategy = stickyRoundRobin({ stickyTtlMs: 500, stickyMaxEntries: 16, now: () => clock });
  let backends = all.slice(0, 5);
  let picker = strategy.build(backends);
  const model = new ModelSrr(backends, 500, 16);
  for (let i = 0; i < 20_000; i++) {
    if (i % 1000 === 999) {
      // A new set: some backends gone, the order shuffled; the table carries over.
      backends = all.filter(() => random() < 0.8).sort(() => random() - 0.5);
      picker = strategy.build(backends);
      model.backends = backends;
      model.next = 0;
    }
    clock += Math.floor(random() * 20);
    const ip = `198.51.100.${Math.floor(random() * 40)}`;
    const refused = random() < 0.2 ? nameOf(all[Math.floor(random() * all.length)]) : '';
    const accept = random() < 0.01 ? () => false : except(refused);
    assert.equal(nameOf(picker.pick({ clientIp: ip }, accept)), nameOf(model.pick(ip, accept, clock)), `connection ${i}`);
  }
  assert.ok(model.table.size <= 16);
});
