/**
 * `npm run bench:hash`: the figures issue 14 asks of maglev, its bounded
 * load and lrt, in one run:
 *
 * - table build time at 10, 100 and 1,000 backends (median of 9 warm builds;
 *   65,537 slots, 100,003 at 1,000 backends, where 100 slots each need more);
 * - the share of keys that move when one of 10 backends is removed (Maglev
 *   promises about 1/10), over every slot of the table, for each of the 10;
 * - the largest and smallest backend share of the table at 1,000 backends,
 *   equal weights and weights 1-3;
 * - max/mean open connections under a skewed key set (half the connections
 *   from one client, the rest Zipf over 999), without a bound and with
 *   hashBalanceFactor 125 and 150;
 * - ns per pick: maglev, bounded maglev and lrt at 10 and 1,000 backends.
 */
import { SlotTable } from '../src/backends/active-counts.ts';
import { Backend } from '../src/backends/backend.ts';
import { leastResponseTime, recordConnectTime } from '../src/strategies/least-response-time.ts';
import { maglev } from '../src/strategies/maglev.ts';
import type { Picker, StrategyOptions } from '../src/strategies/strategy.ts';
import { mulberry32 } from '../tools/random.ts';

const options = (o: Partial<StrategyOptions> = {}): StrategyOptions => ({ random: Math.random, now: Date.now, stickyTtlMs: 1, stickyMaxEntries: 1, ...o });
type Inspectable = Picker & { readonly table: Uint32Array };

function backends(n: number, weight: (i: number) => number = () => 1, table = new SlotTable()): Backend[] {
  return Array.from({ length: n }, (_, i) => new Backend({ host: `10.2.${i >> 8}.${i & 255}`, port: 6379, weight: weight(i) }, 'up', table));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const pct = (x: number, digits = 2) => `${(100 * x).toFixed(digits)}%`;

function buildTimes(): void {
  console.log('\nTable build (median of 9, after 3 warm-up builds)');
  console.log('| backends | slots | build |');
  console.log('|---:|---:|---:|');
  for (const n of [10, 100, 1000]) {
    const set = backends(n);
    const strategy = maglev(options());
    let size = 0;
    for (let i = 0; i < 3; i++) size = (strategy.build(set) as Inspectable).table.length;
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t0 = performance.now();
      strategy.build(set);
      times.push(performance.now() - t0);
    }
    console.log(`| ${n.toLocaleString('en')} | ${size.toLocaleString('en')} | ${median(times).toFixed(1)} ms |`);
  }
}

function keysOf(set: readonly Backend[]): string[] {
  const picker = maglev(options()).build(set) as Inspectable;
  const sorted = set.map((b) => b.key).sort();
  return Array.from(picker.table, (i) => sorted[i]!);
}

function disruption(): void {
  const ten = backends(10);
  const before = keysOf(ten);
  const moved: number[] = [];
  const elsewhere: number[] = [];
  for (const gone of ten) {
    const after = keysOf(ten.filter((b) => b !== gone));
    let m = 0;
    let e = 0;
    for (let s = 0; s < before.length; s++) {
      if (before[s] === after[s]) continue;
      m++;
      if (before[s] !== gone.key) e++;
    }
    moved.push(m / before.length);
    elsewhere.push(e / before.length);
  }
  console.log('\nOne of 10 backends removed (each of the 10 in turn; promise: about 1/10)');
  console.log(`keys moved: min ${pct(Math.min(...moved))}, max ${pct(Math.max(...moved))}; of them between the 9 that stayed: max ${pct(Math.max(...elsewhere))}`);
}

function balance(): void {
  console.log('\nTable shares at 1,000 backends (100,003 slots)');
  for (const [label, weight] of [['equal weights', () => 1], ['weights 1-3', (i: number) => 1 + (i % 3)]] as const) {
    const set = backends(1000, weight);
    const picker = maglev(options()).build(set) as Inspectable;
    const sorted = [...set].sort((a, b) => (a.key < b.key ? -1 : 1));
    const perWeight = new Map<number, number[]>();
    const counts = new Uint32Array(1000);
    for (const i of picker.table) counts[i]!++;
    sorted.forEach((b, i) => perWeight.set(b.weight, [...(perWeight.get(b.weight) ?? []), counts[i]!]));
    for (const [w, cs] of [...perWeight].sort((a, b) => a[0] - b[0])) {
      const size = picker.table.length;
      console.log(`${label}, weight ${w}: largest ${pct(Math.max(...cs) / size, 4)} (${Math.max(...cs)} slots), smallest ${pct(Math.min(...cs) / size, 4)} (${Math.min(...cs)} slots), ratio ${(Math.max(...cs) / Math.min(...cs)).toFixed(3)}`);
    }
  }
}


function skewed(count: number, random: () => number): string[] {
  const weights = Array.from({ length: 999 }, (_, k) => 1 / (k + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: count }, () => {
    if (random() < 0.5) return '198.51.100.1';
    let u = random() * total;
    let k = 0;
    while (k < weights.length - 1 && (u -= weights[k]!) > 0) k++;
    return `10.9.${k >> 8}.${k & 255}`;
  });
}

function boundedLoad(): void {
  console.log('\nBounded load: 10 backends, 20,000 connections from a skewed key set (half from one client), one in four closed again');
  console.log('| hashBalanceFactor | max/mean open | keys off their first choice |');
  console.log('|---:|---:|---:|');
  const keys = skewed(20_000, mulberry32(1));
  for (const factor of [0, 125, 150]) {
    const table = new SlotTable();
    const set = backends(10, () => 1, table);
    const home = maglev(options()).build(set);
    const picker = maglev(options({ hashBalanceFactor: factor })).build(set);
    const random = mulberry32(2);
    const open: Backend[] = [];
    let moved = 0;
    for (const [i, key] of keys.entries()) {
      if (i % 4 === 3) {
        const at = Math.floor(random() * open.length);
        open[at]!.active--;
        open[at] = open[open.length - 1]!;
        open.pop();
      }
      const b = picker.pick({ clientIp: key }, (x) => x.ready)!;
      if (b !== home.pick({ clientIp: key }, (x) => x.ready)) moved++;
      b.active++;
      open.push(b);
    }
    const max = Math.max(...set.map((b) => b.active));
    console.log(`| ${factor === 0 ? 'none' : factor} | ${(max / (open.length / 10)).toFixed(3)} | ${pct(moved / keys.length)} |`);
  }
}

function pickCost(): void {
  console.log('\nns per pick (2,000,000 picks over 4,096 client IPs; all backends ready, none full)');
  console.log('| backends | maglev | maglev, factor 125 | lrt, samples fresh | lrt, every backend idle (decaying) |');
  console.log('|---:|---:|---:|---:|---:|');
  const ips = Array.from({ length: 4096 }, (_, i) => ({ clientIp: `10.7.${i >> 8}.${i & 255}` }));
  const ready = (b: Backend) => b.ready;
  for (const n of [10, 1000]) {
    const row: string[] = [];
    const table = new SlotTable();
    const set = backends(n, () => 1, table);
    const t = 1_700_000_000_000;
    set.forEach((b, i) => {
      b.active = 5 + (i % 7);
      recordConnectTime(b, 0.2 + (i % 5) * 0.1, t);
    });
    const fresh = leastResponseTime(options({ now: () => t + 1000 })).build(set);
    const idle = leastResponseTime(options({ now: () => t + 60_000 })).build(set);
    const pickers = [maglev(options()).build(set), maglev(options({ hashBalanceFactor: 125 })).build(set), fresh, idle];
    for (const picker of pickers) {
      const picks = n >= 1000 && (picker === fresh || picker === idle) ? 200_000 : 2_000_000;
      let sink = 0;
      for (let i = 0; i < 100_000; i++) sink += picker.pick(ips[i & 4095]!, ready) ? 1 : 0;
      const t0 = performance.now();
      for (let i = 0; i < picks; i++) sink += picker.pick(ips[i & 4095]!, ready) ? 1 : 0;
      row.push(`${(((performance.now() - t0) * 1e6) / picks).toFixed(0)}${sink < 0 ? '' : ''}`);
    }
    console.log(`| ${n.toLocaleString('en')} | ${row.join(' | ')} |`);
  }
}

buildTimes();
disruption();
balance();
boundedLoad();
pickCost();
