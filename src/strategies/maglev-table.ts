/**
 * The Maglev lookup table (Eisenbud et al., NSDI 2016), built so that it
 * depends on the backend set alone: the same backends, weights and table
 * size give the same table whatever order they were registered in, on every
 * instance and worker, with no coordination.
 */
import type { Backend } from '../backends/backend.ts';
import { DeadlinePicker } from './earliest-deadline.ts';
import { hashString, STEP_SEED } from './hash.ts';

/** The table size when none is configured: the Maglev paper's 65,537. */
export const DEFAULT_TABLE_SIZE = 65_537;
/** Slots per backend a table must have at least, so that shares stay within about 1% of the weights. */
export const SLOTS_PER_BACKEND = 100;

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** The smallest prime at or above `n`. */
export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  while (!isPrime(p)) p++;
  return p;
}

/**
 * The size a table for `count` backends gets: the configured one, or, when
 * the set has outgrown it (backends registered over the API past size/100),
 * the smallest prime at or above 100 × count. Derived from the count alone,
 * so instances with the same set still agree.
 */
export function tableSizeFor(configured: number, count: number): number {
  const least = SLOTS_PER_BACKEND * count;
  return configured >= least ? configured : nextPrime(least);
}

/** A copy sorted by key (`host:port`): the one order every instance agrees on. */
export function sortedByKey(backends: readonly Backend[]): Backend[] {
  return [...backends].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Fills a table of `size` slots (prime, so every skip walks all of them)
 * with indexes into `sorted`: each backend walks its own permutation
 * (offset and skip from hashes of its key, never its position) and claims
 * the first free slot on its turn. Every backend takes one turn first, so
 * none is left out whatever the weights; then turns follow the smooth
 * weighted schedule (equal deadlines in key order), so slot counts follow
 * the weights. `sorted` must be sorted by key (`sortedByKey`).
 */
export function maglevTable(sorted: readonly Backend[], weights: Int32Array, size: number): Uint32Array {
  const n = sorted.length;
  const table = new Uint32Array(size);
  if (n === 0) return table;
  const next = new Uint32Array(n);
  const skip = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const key = sorted[i]!.key;
    next[i] = hashString(key) % size;
    skip[i] = (hashString(key, STEP_SEED) % (size - 1)) + 1;
  }
  const taken = new Uint8Array(size);
  // Steps by subtraction, not `%`: integer division dominated the build.
  const claim = (i: number) => {
    const step = skip[i]!;
    let slot = next[i]!;
    while (taken[slot] === 1) {
      slot += step;
      if (slot >= size) slot -= size;
    }
    taken[slot] = 1;
    table[slot] = i;
    slot += step;
    next[i] = slot >= size ? slot - size : slot;
  };
  for (let i = 0; i < n && i < size; i++) claim(i);
  if (size <= n) return table;
  // The weighted turn order repeats every `units` turns: schedule one round, then replay it.
  let units = 0;
  for (let i = 0; i < n; i++) units += weights[i]!;
  const scheduler = new DeadlinePicker(sorted, weights);
  const turns = new Uint32Array(Math.min(units, size - n));
  for (let t = 0; t < turns.length; t++) turns[t] = scheduler.next();
  for (let filled = n, t = 0; filled < size; filled++) {
    claim(turns[t]!);
    t = t + 1 === turns.length ? 0 : t + 1;
  }
  return table;
}
