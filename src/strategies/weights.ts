/** Weight arithmetic shared by the weighted strategies. */
import type { Backend } from '../backends/backend.ts';
import { MAX_WEIGHT } from '../config/parse.ts';

/**
 * A backend's weight as an integer in 1..MAX_WEIGHT. Config validation
 * already guarantees that; a strategy must never throw, divide by zero or
 * overflow on the data path, so anything else is clamped into the range
 * (a weight below 1 counts as 1 rather than excluding the backend).
 */
export function weightOf(b: Backend): number {
  // `pickWeight`, set by the registry while a slow start runs (0 otherwise).
  const w = b.pickWeight || b.weight;
  if (!(w >= 1)) return 1;
  return w >= MAX_WEIGHT ? MAX_WEIGHT : Math.floor(w);
}

export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** Weights divided by their gcd, so a cycle or table built from them is as short as it can be. */
export function reducedWeights(backends: readonly Backend[]): Int32Array {
  const weights = new Int32Array(backends.length);
  let g = 0;
  for (let i = 0; i < backends.length; i++) {
    weights[i] = weightOf(backends[i]!);
    g = gcd(g, weights[i]!);
  }
  if (g > 1) for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! / g;
  return weights;
}

/**
 * Vose's alias table over backend weights: column i keeps backend i with
 * probability `keep[i]` and hands over to `alias[i]` otherwise, so one
 * uniform draw picks an index in proportion to its weight in O(1). Built in O(n).
 */
export class AliasSampler {
  readonly #keep: Float64Array;
  readonly #alias: Uint32Array;

  constructor(backends: readonly Backend[]) {
    const n = backends.length;
    const keep = new Float64Array(n);
    const alias = new Uint32Array(n);
    const scaled = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += (scaled[i] = weightOf(backends[i]!));
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (scaled[i]! * n) / total;
      (scaled[i]! < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large.pop()!;
      keep[s] = scaled[s]!;
      alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    // What is left is 1 up to rounding error: keep it whole.
    for (const i of large) keep[i] = 1;
    for (const i of small) keep[i] = 1;
    this.#keep = keep;
    this.#alias = alias;
  }

  /** An index drawn in proportion to weight: one uniform `u` in [0, 1) gives the column (integer part) and the coin (fraction). */
  draw(u: number): number {
    const keep = this.#keep;
    const x = u * keep.length;
    const column = Math.floor(x);
    return x - column < keep[column]! ? column : this.#alias[column]!;
  }
}
