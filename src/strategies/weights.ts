/** Weight arithmetic shared by the weighted strategies. */
import type { Backend } from '../backends/backend.ts';

/**
 * A backend's weight as a positive integer. Config validation already
 * guarantees 1–1000; a strategy must never throw or divide by zero on the
 * data path, so anything else counts as 1 rather than excluding the backend.
 */
export function weightOf(b: Backend): number {
  const w = b.weight;
  return Number.isFinite(w) && w >= 1 ? Math.floor(w) : 1;
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
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
