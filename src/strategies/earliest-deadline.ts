import type { Backend } from '../backends/backend.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker } from './strategy.ts';

/**
 * Weighted round robin's fallback for sets whose nginx cycle is too long or
 * too costly to precompute: earliest-deadline-first over a binary heap,
 * O(log n) per pick. Backend i's k-th pick of a round is due at
 * `round + (k + ½) / w_i`, so its picks are evenly spaced and each round
 * gives it exactly w_i of them: as smooth as nginx's order, with the same
 * proportions, though not the same sequence. A backend that is not accepted
 * still uses up its turn.
 */
export class DeadlinePicker implements Picker {
  readonly #backends: readonly Backend[];
  readonly #weights: Int32Array;
  readonly #round: Float64Array;
  readonly #taken: Int32Array;
  readonly #heap: Uint32Array;

  constructor(backends: readonly Backend[], weights: Int32Array) {
    const n = backends.length;
    this.#backends = backends;
    this.#weights = weights;
    this.#round = new Float64Array(n);
    this.#taken = new Int32Array(n);
    this.#heap = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.#heap[i] = i;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const n = this.#heap.length;
    const tries = n < MAX_TRIES ? n : MAX_TRIES;
    let index = 0;
    for (let i = 0; i < tries; i++) {
      index = this.next();
      const b = this.#backends[index]!;
      if (accept(b)) return b;
    }
    return n === 0 ? undefined : firstAcceptedFrom(this.#backends, index, accept);
  }

  /** The index of the backend due next, which then moves to its following deadline. The set must not be empty. */
  next(): number {
    const index = this.#heap[0]!;
    if (++this.#taken[index]! === this.#weights[index]) {
      this.#taken[index] = 0;
      this.#round[index]!++;
    }
    this.#siftDown(0);
    return index;
  }

  /** Whether i is due before j: by round, then (2k+1)/2w cross-multiplied, then registration order. */
  #before(i: number, j: number): boolean {
    const ri = this.#round[i]!;
    const rj = this.#round[j]!;
    if (ri !== rj) return ri < rj;
    const di = (2 * this.#taken[i]! + 1) * this.#weights[j]!;
    const dj = (2 * this.#taken[j]! + 1) * this.#weights[i]!;
    return di !== dj ? di < dj : i < j;
  }

  #siftDown(at: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[at]!;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && this.#before(heap[child + 1]!, heap[child]!)) child++;
      if (!this.#before(heap[child]!, item)) break;
      heap[at] = heap[child]!;
      at = child;
    }
    heap[at] = item;
  }
}
