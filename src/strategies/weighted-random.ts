import type { Backend } from '../backends/backend.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { AliasSampler } from './weights.ts';

/**
 * Weighted random. A backend that is not accepted costs a fresh draw; after
 * MAX_TRIES failed draws the pick walks the list from the last drawn backend,
 * so it is O(1) expected and O(n) only when almost nothing is accepted.
 */
class WeightedRandomPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #sampler: AliasSampler;
  readonly #random: () => number;

  constructor(backends: readonly Backend[], random: () => number) {
    this.#backends = [...backends];
    this.#random = random;
    this.#sampler = new AliasSampler(backends);
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    if (n === 0) return undefined;
    let index = 0;
    for (let t = 0; t < MAX_TRIES; t++) {
      index = this.#sampler.draw(this.#random());
      const b = list[index]!;
      if (accept(b)) return b;
    }
    return firstAcceptedFrom(list, index, accept);
  }
}

export function weightedRandom(options: Pick<StrategyOptions, 'random'>): Strategy {
  return { name: 'random', build: (backends) => new WeightedRandomPicker(backends, options.random) };
}
