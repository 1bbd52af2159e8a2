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
  const w = b.weight;
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
