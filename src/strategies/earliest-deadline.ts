import type { Backend } from '../backends/backend.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker } from './strategy.ts';

/**
 * Rounds after which every deadline is shifted back: keeps deadlines below
 * 2^17, where a double resolves 2^-35, far finer than the 1/(2·w·w')
 * between distinct deadlines.
 */
const REBASE_ROUNDS = 1 << 16;

/**
 * Weighted round robin's fallback for sets whose nginx cycle is too long or
 * too costly to precompute: earliest-deadline-first over a binary heap,
 * O(log n) per pick. Backend i's k-th pick of a round is due at
 * `round + (2k + 1) / 2w_i`, so its picks are evenly spaced and each round
 * gives it exactly w_i of them: as smooth as nginx's order, with the same
 * proportions, though not the same sequence. Equal deadlines go in
 * registration order. A backend that is not accepted still uses up its turn.
 *
 * Deadlines are doubles, yet exact enough: equal ones are computed from the
 * same integers and so are the same double, and distinct ones stay far
 * apart while below 2^17 (see REBASE_ROUNDS).
 */
export class DeadlinePicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  /** Per backend: its current round, and its picks so far in that round. */
  readonly #round: Float64Array;
  readonly #taken: Int32Array;
  /** The heap, in heap order: backend index and its next deadline. */
  readonly #index: Uint32Array;
  readonly #deadline: Float64Array;

  constructor(backends: readonly Backend[], weights: Int32Array) {
    const n = backends.length;
    this.#backends = [...backends];
    this.#weights = weights;
    this.#round = new Float64Array(n);
    this.#taken = new Int32Array(n);
    this.#index = new Uint32Array(n);
    this.#deadline = new Float64Array(n);
    for (let i = 0; i < n; i++) this.#index[i] = i;
    this.#heapify();
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
    let taken = this.#taken[index]! + 1;
    if (taken === weight) {
      taken = 0;
      if (++this.#round[index]! === REBASE_ROUNDS) return this.#rebase(index);
    }
    this.#taken[index] = taken;
    this.#siftDown(0, index, this.#round[index]! + (2 * taken + 1) / (2 * weight));
    return index;
  }

  /** Every other backend is at least in round REBASE_ROUNDS - 1 (deadlines span under one round): shift them all back. */
  #rebase(index: number): number {
    this.#taken[index] = 0;
    for (let i = 0; i < this.#round.length; i++) this.#round[i]! -= REBASE_ROUNDS - 1;
    this.#heapify();
    return index;
  }

  #heapify(): void {
    const n = this.#index.length;
    for (let at = 0; at < n; at++) {
      const i = this.#index[at]!;
      this.#deadline[at] = this.#round[i]! + (2 * this.#taken[i]! + 1) / (2 * this.#weights[i]!);
    }
    for (let at = (n >> 1) - 1; at >= 0; at--) this.#siftDown(at, this.#index[at]!, this.#deadline[at]!);
  }

  /** Places (index, deadline) at `at` or below, moving earlier children up. */
  #siftDown(at: number, index: number, deadline: number): void {
    const heap = this.#index;
    const deadlines = this.#deadline;
    const n = heap.length;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      let due = deadlines[child]!;
      const right = child + 1;
      if (right < n) {
        const rightDue = deadlines[right]!;
        if (rightDue < due || (rightDue === due && heap[right]! < heap[child]!)) {
          child = right;
          due = rightDue;
        }
      }
      if (due > deadline || (due === deadline && heap[child]! > index)) break;
      heap[at] = heap[child]!;
      deadlines[at] = due;
      at = child;
    }
    heap[at] = index;
    deadlines[at] = deadline;
  }
}
