import type { Backend } from '../backends/backend.ts';
import { MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { AliasSampler, weightOf } from './weights.ts';

/**
 * Two distinct accepted backends drawn at random in proportion to their
 * weights; the one with fewer connections per unit of weight wins, the first
 * drawn on a tie (so the result depends only on the random source). Drawing
 * by weight is what makes weights count under light load, when every
 * backend has 0 connections and every pick is a tie: weights 3:1 then split
 * the traffic 3:1 rather than evenly. O(1) expected: each
 * candidate gets MAX_TRIES draws, and only when those all land on backends
 * that are not accepted does the pick walk the list from a random start.
 * With a single accepted backend, that one is returned.
 */
class PowerOfTwoChoicesPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  readonly #sampler: AliasSampler;
  readonly #random: () => number;

  constructor(backends: readonly Backend[], random: () => number) {
    this.#backends = [...backends];
    this.#random = random;
    this.#weights = new Int32Array(backends.length);
    for (let i = 0; i < backends.length; i++) this.#weights[i] = weightOf(backends[i]!);
    this.#sampler = new AliasSampler(backends);
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
    for (let t = 0; t < MAX_TRIES; t++) {
      const i = this.#sampler.draw(this.#random());
      if (i !== except && accept(list[i]!)) return i;
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
