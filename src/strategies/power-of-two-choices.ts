import type { Backend } from '../backends/backend.ts';
import { MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { weightOf } from './weights.ts';

/**
 * Two distinct accepted backends drawn uniformly at random; the one with
 * fewer connections per unit of weight wins, the first drawn on a tie (so
 * the result depends only on the random source). O(1) expected: each
 * candidate gets MAX_TRIES draws, and only when those all land on backends
 * that are not accepted does the pick walk the list from a random start.
 * With a single accepted backend, that one is returned.
 */
class PowerOfTwoChoicesPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  readonly #random: () => number;

  constructor(backends: readonly Backend[], random: () => number) {
    this.#backends = [...backends];
    this.#random = random;
    this.#weights = new Int32Array(backends.length);
    for (let i = 0; i < backends.length; i++) this.#weights[i] = weightOf(backends[i]!);
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    if (n === 0) return undefined;
    const first = this.#draw(-1, accept);
    if (first < 0) return undefined;
    if (n === 1) return list[first];
    const second = this.#draw(first, accept);
    if (second < 0) return list[first];
    const a = list[first]!;
    const b = list[second]!;
    return b.active * this.#weights[first]! < a.active * this.#weights[second]! ? b : a;
  }

  /** Index of a random accepted backend other than `except`, or -1 when there is none. */
  #draw(except: number, accept: Accept): number {
    const list = this.#backends;
    const n = list.length;
    // Drawing from n - 1 indices and shifting past `except` never wastes a draw on it.
    const range = except < 0 ? n : n - 1;
    for (let t = 0; t < MAX_TRIES; t++) {
      let i = Math.floor(this.#random() * range);
      if (except >= 0 && i >= except) i++;
      if (accept(list[i]!)) return i;
    }
    const start = Math.floor(this.#random() * n);
    for (let k = 0, i = start; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (i !== except && accept(list[i]!)) return i;
    }
    return -1;
  }
}

export function powerOfTwoChoices(options: Pick<StrategyOptions, 'random'>): Strategy {
  return {
    name: 'power-of-two-choices',
    build: (backends) => new PowerOfTwoChoicesPicker(backends, options.random),
  };
}
