import type { Backend } from '../backends/backend.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker } from './strategy.ts';

/** Whether deadline (ra, fa) of backend ia comes before (rb, fb) of ib: by round, fraction, then registration order. */
function before(ra: number, fa: number, ia: number, rb: number, fb: number, ib: number): boolean {
  return ra !== rb ? ra < rb : fa !== fb ? fa < fb : ia < ib;
}

/**
 * Weighted round robin's fallback for sets whose nginx cycle is too long or
 * too costly to precompute: earliest-deadline-first over a binary heap,
 * O(log n) per pick. Backend i's k-th pick of a round is due at
 * `round + (2k + 1) / 2w_i`, so its picks are evenly spaced and each round
 * gives it exactly w_i of them: as smooth as nginx's order, with the same
 * proportions, though not the same sequence. A backend that is not accepted
 * still uses up its turn.
 *
 * The fraction is a float, yet exact enough: equal fractions divide to the
 * same double, and distinct ones (denominators ≤ 2,000) differ by far more
 * than a rounding error. Rounds are kept apart so that they never eat into
 * the fraction's precision.
 */
export class DeadlinePicker implements Picker {
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  /** Picks so far in the current round, per backend. */
  readonly #taken: Int32Array;
  /** The heap, in heap order: backend index, round and fraction of its next deadline. */
  readonly #index: Uint32Array;
  readonly #round: Float64Array;
  readonly #fraction: Float64Array;

  constructor(backends: readonly Backend[], weights: Int32Array) {
    const n = backends.length;
    this.#backends = [...backends];
    this.#weights = weights;
    this.#taken = new Int32Array(n);
    this.#index = new Uint32Array(n);
    this.#round = new Float64Array(n);
    this.#fraction = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.#index[i] = i;
      this.#fraction[i] = 1 / (2 * weights[i]!);
    }
    for (let at = (n >> 1) - 1; at >= 0; at--) {
      this.#siftDown(at, this.#index[at]!, this.#round[at]!, this.#fraction[at]!);
    }
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const n = this.#backends.length;
    const tries = n < MAX_TRIES ? n : MAX_TRIES;
    let index = 0;
    for (let i = 0; i < tries; i++) {
      index = this.next();
      const b = this.#backends[index]!;
      if (accept(b)) return b;
    }
    return n === 0 ? undefined : firstAcceptedFrom(this.#backends, index, accept);
  }

  /** The index of the backend due next, which then moves on to its following deadline. The set must not be empty. */
  next(): number {
    const index = this.#index[0]!;
    const weight = this.#weights[index]!;
    let round = this.#round[0]!;
    let taken = this.#taken[index]! + 1;
    if (taken === weight) {
      taken = 0;
      round++;
    }
    this.#taken[index] = taken;
    this.#siftDown(0, index, round, (2 * taken + 1) / (2 * weight));
    return index;
  }

  /** Places (index, round, fraction) at `at` or below, moving earlier children up. */
  #siftDown(at: number, index: number, round: number, fraction: number): void {
    const heapIndex = this.#index;
    const heapRound = this.#round;
    const heapFraction = this.#fraction;
    const n = heapIndex.length;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n &&
        before(heapRound[right]!, heapFraction[right]!, heapIndex[right]!, heapRound[child]!, heapFraction[child]!, heapIndex[child]!)
      ) {
        child = right;
      }
      if (!before(heapRound[child]!, heapFraction[child]!, heapIndex[child]!, round, fraction, index)) break;
      heapIndex[at] = heapIndex[child]!;
      heapRound[at] = heapRound[child]!;
      heapFraction[at] = heapFraction[child]!;
      at = child;
    }
    heapIndex[at] = index;
    heapRound[at] = round;
    heapFraction[at] = fraction;
  }
}
