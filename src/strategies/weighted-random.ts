import type { Backend } from '../backends/backend.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { weightOf } from './weights.ts';

/**
 * Vose's alias table: column i keeps backend i with probability `keep[i]`
 * and hands over to `alias[i]` otherwise, so one uniform draw picks a
 * backend in proportion to its weight in O(1). Built in O(n).
 */
function aliasTable(weights: readonly number[]): { keep: Float64Array; alias: Uint32Array } {
  const n = weights.length;
  const keep = new Float64Array(n);
  const alias = new Uint32Array(n);
  let total = 0;
  for (const w of weights) total += w;
  const scaled = new Float64Array(n);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) {
    scaled[i] = (weights[i]! * n) / total;
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
  return { keep, alias };
}

/**
 * Weighted random. A backend that is not accepted costs a fresh draw; after
 * MAX_TRIES failed draws the pick walks the list from the last drawn backend,
 * so it is O(1) expected and O(n) only when almost nothing is accepted.
 */
class WeightedRandomPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #keep: Float64Array;
  readonly #alias: Uint32Array;
  readonly #random: () => number;

  constructor(backends: readonly Backend[], random: () => number) {
    this.#backends = [...backends];
    this.#random = random;
    const { keep, alias } = aliasTable(backends.map(weightOf));
    this.#keep = keep;
    this.#alias = alias;
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    if (n === 0) return undefined;
    let index = 0;
    for (let t = 0; t < MAX_TRIES; t++) {
      // One draw gives both the column (integer part) and the coin (fraction).
      const x = this.#random() * n;
      const column = Math.floor(x);
      index = x - column < this.#keep[column]! ? column : this.#alias[column]!;
      const b = list[index]!;
      if (accept(b)) return b;
    }
    return firstAcceptedFrom(list, index, accept);
  }
}

export function weightedRandom(options: Pick<StrategyOptions, 'random'>): Strategy {
  return { name: 'random', build: (backends) => new WeightedRandomPicker(backends, options.random) };
}
