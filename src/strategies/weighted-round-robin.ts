import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';
import { DeadlinePicker } from './earliest-deadline.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import { reducedWeights } from './weights.ts';

/**
 * Most steps the nginx simulation may take (backends × cycle length), about
 * 10 ms of event-loop time: e.g. 1,000 backends whose gcd-reduced weights
 * sum to at most 4,194. With weights ≤ 1,000 this also bounds the cycle to
 * 64,000 entries (at 64 backends). Past it, the deadline schedule takes over.
 */
export const MAX_BUILD_STEPS = 1 << 22;
/**
 * Longest round of the deadline schedule precomputed instead (512 KiB,
 * about 10 ms too at O(log n) a step). Past it the deadline heap runs live,
 * O(log n) per pick: sets of over ~130 backends with weights in the hundreds.
 */
export const MAX_DEADLINE_CYCLE = 1 << 17;

/**
 * The cycle nginx's smooth weighted round robin produces: each step every
 * current weight grows by its weight, the largest (first on ties) is chosen
 * and loses the total. 5:1:1 gives `a a b a c a a`. Weights must be reduced
 * by their gcd first, since the cycle is as long as their sum.
 */
export function smoothCycle(weights: Int32Array): Uint32Array {
  const n = weights.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i]!;
  const cycle = new Uint32Array(total);
  const current = new Int32Array(n);
  for (let t = 0; t < total; t++) {
    let best = 0;
    // Below any current weight after the increment (those stay above -total): keeps the loop in integers.
    let bestCurrent = -2 * total;
    for (let i = 0; i < n; i++) {
      const c = current[i]! + weights[i]!;
      current[i] = c;
      if (c > bestCurrent) {
        bestCurrent = c;
        best = i;
      }
    }
    current[best] = bestCurrent - total;
    cycle[t] = best;
  }
  return cycle;
}

/** Steps through the precomputed cycle: O(1) per pick. */
class CyclePicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #cycle: Uint32Array;
  #next = 0;

  constructor(backends: readonly Backend[], cycle: Uint32Array) {
    this.#backends = [...backends];
    this.#cycle = cycle;
  }

  /** A backend that is not accepted is passed over and the cycle moves on, as round robin does. */
  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const cycle = this.#cycle;
    const len = cycle.length;
    if (len === 0) return undefined;
    const tries = len < MAX_TRIES ? len : MAX_TRIES;
    let index = 0;
    for (let i = 0; i < tries; i++) {
      index = cycle[this.#next]!;
      this.#next = this.#next + 1 === len ? 0 : this.#next + 1;
      const b = this.#backends[index]!;
      if (accept(b)) return b;
    }
    return firstAcceptedFrom(this.#backends, index, accept);
  }
}

/** One round of the deadline schedule (every backend exactly its weight); it repeats round after round. */
function deadlineCycle(backends: readonly Backend[], weights: Int32Array, total: number): Uint32Array {
  const schedule = new DeadlinePicker(backends, weights);
  const cycle = new Uint32Array(total);
  for (let t = 0; t < total; t++) cycle[t] = schedule.next();
  return cycle;
}

/**
 * Smooth weighted round robin, O(1) per pick while a cycle can be
 * precomputed: nginx's own when it costs at most MAX_BUILD_STEPS to
 * simulate, else a round of the deadline schedule (as smooth, not the same
 * order) up to MAX_DEADLINE_CYCLE entries. Past that, the deadline heap runs
 * live at O(log n) per pick.
 */
export function weightedRoundRobin(): Strategy {
  return {
    name: 'weighted-round-robin',
    build(backends) {
      const weights = reducedWeights(backends);
      let total = 0;
      for (let i = 0; i < weights.length; i++) total += weights[i]!;
      if (total * weights.length <= MAX_BUILD_STEPS) {
        return new CyclePicker(backends, smoothCycle(weights));
      }
      if (total <= MAX_DEADLINE_CYCLE) return new CyclePicker(backends, deadlineCycle(backends, weights, total));
      return new DeadlinePicker(backends, weights);
    },
  };
}
