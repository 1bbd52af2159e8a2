/** Shared fixtures for the strategy tests: named backends, accept functions, options. */
import { SlotTable } from '../../../src/backends/active-counts.ts';
import { Backend } from '../../../src/backends/backend.ts';
import type { Accept, Picker, StrategyOptions } from '../../../src/strategies/strategy.ts';
import { mulberry32 } from '../../helpers/random.ts';

/** Ready backends on ports 9001, 9002, … with the given weights; `nameOf` calls them a, b, c, … */
export function makeBackends(...weights: number[]): Backend[] {
  return weights.map((weight, i) => new Backend({ host: '127.0.0.1', port: 9001 + i, weight }, 'up'));
}

/** As makeBackends, counting their connections in a table of their own (its `open` then sums theirs alone). */
export function makeBackendsIn(table: SlotTable, ...weights: number[]): Backend[] {
  return weights.map((weight, i) => new Backend({ host: '127.0.0.1', port: 9001 + i, weight }, 'up', table));
}

export { SlotTable };

export function nameOf(b: Backend | undefined): string {
  if (b === undefined) return '-';
  const i = b.port - 9001;
  return i < 26 ? String.fromCharCode(97 + i) : `#${i}`;
}

export const ready: Accept = (b) => b.ready;
export const none: Accept = () => false;

/** Accepts ready backends except the named ones. */
export function except(...names: string[]): Accept {
  return (b) => b.ready && !names.includes(nameOf(b));
}

/** `count` picks for one client IP, as names. */
export function picks(picker: Picker, count: number, accept: Accept = ready, clientIp = '192.0.2.1'): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(nameOf(picker.pick({ clientIp }, accept)));
  return out;
}

/** Share of each name over `count` picks, in the order of `names`. */
export function shares(picker: Picker, count: number, names: readonly string[], accept: Accept = ready): number[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const name = nameOf(picker.pick({ clientIp: '192.0.2.1' }, accept));
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return names.map((n) => (counts.get(n) ?? 0) / count);
}

export function options(overrides: Partial<StrategyOptions> = {}): StrategyOptions {
  return { random: mulberry32(42), stickyTtlMs: 60_000, stickyMaxEntries: 1000, now: () => 0, ...overrides };
}

/** `10.0.x.y` addresses, distinct for i < 65,536. */
export function clientIp(i: number): string {
  return `10.0.${(i >> 8) & 255}.${i & 255}`;
}
