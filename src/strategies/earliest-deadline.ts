import type { Backend } from '../backends/backend.ts';
import { MAX_WEIGHT } from '../config/parse.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker } from './strategy.ts';

/**
 * Ticks per round. Distinct deadlines (2k+1)/2w and (2k'+1)/2w' differ by a
 * nonzero integer over 2ww', so by at least 1/(2·MAX_WEIGHT²) = 1/2,000,000
 * of a round: more than a tick, so whole ticks keep them apart and in order.
 */
const TICKS = 2 ** 21;
if (2 * MAX_WEIGHT ** 2 > TICKS) throw new Error('earliest-deadline: TICKS no longer resolves MAX_WEIGHT');

/**
 * Most rounds between rebases. Keeps a deadline in ticks below 2^32, where a
 * double resolves 2^-21, far finer than the 1/MAX_WEIGHT that separates a
 * quotient from a whole tick (see `#key`). A rebase costs O(n) and comes at
 * most once every REBASE_ROUNDS - 2 rounds, each of at least n picks.
 */
export const REBASE_ROUNDS = 1 << 10;

/**
 * Weighted round robin's fallback for sets whose nginx cycle is too long or
 * too costly to precompute: earliest-deadline-first over a binary heap,
 * O(log n) per pick. Backend i's k-th pick of a round is due at
 * `round + (2k + 1) / 2w_i`, so its picks are evenly spaced and each round
 * gives it exactly w_i of them: as smooth as nginx's order, with the same
 * proportions, though not the same sequence. Equal deadlines go in
 * registration order. A backend that is not accepted still uses up its turn.
 *
 * The heap holds one double per backend, `tick · 2^b + index` (b bits hold
 * any index): it orders exactly as (deadline, index), so a heap step is a
 * single comparison, and every key is a distinct integer below 2^53.
 */
export class DeadlinePicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  /** Per backend: its picks so far, less those of the rounds that rebases took off. */
  readonly #picks: Float64Array;
  /** The keys in heap order, then one +Infinity: the last child's right sibling, so a step needs no bounds test. */
  readonly #keys: Float64Array;
  /** 2^b, and its reciprocal to split a key exactly. */
  readonly #unit: number;
  readonly #perUnit: number;
  readonly #rounds: number;

  /** `rebaseRounds` (2 to REBASE_ROUNDS) is for tests: rebasing more often must not change the sequence. */
  constructor(backends: readonly Backend[], weights: Int32Array, rebaseRounds = REBASE_ROUNDS) {
    const n = backends.length;
    this.#backends = [...backends];
    this.#weights = weights;
    this.#picks = new Float64Array(n);
    this.#keys = new Float64Array(n + 1).fill(Infinity);
    const bits = n <= 1 ? 0 : 32 - Math.clz32(n - 1);
    this.#unit = 2 ** bits;
    this.#perUnit = 2 ** -bits;
    // Keys stay below (rounds + 1) · TICKS · 2^bits ≤ 2^53: past 2^21 backends, by rebasing more often (2^30 would not fit in memory).
    this.#rounds = Math.max(2, Math.min(rebaseRounds, REBASE_ROUNDS, 2 ** (31 - bits)));
    for (let i = 0; i < n; i++) this.#keys[i] = this.#key(i);
    for (let at = (n >> 1) - 1; at >= 0; at--) this.#siftDown(at, this.#keys[at]!);
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
    const root = this.#keys[0]!;
    const index = root - Math.floor(root * this.#perUnit) * this.#unit;
    this.#picks[index]!++;
    let key = this.#key(index);
    if (key >= this.#rounds * TICKS * this.#unit) key = this.#rebase(key);
    this.#siftDown(0, key);
    return index;
  }

  /**
   * The key of backend `index`'s next deadline, (2·picks + 1) / 2w rounds.
   * The dividend is an integer below 2^42, so exact; if w does not divide
   * it, the true quotient is at least 1/w from a whole tick, while rounding
   * moves it by at most 2^-22 (below 2^32, see REBASE_ROUNDS): the floor is
   * the exact one, so equal deadlines give equal ticks.
   */
  #key(index: number): number {
    const ticks = Math.floor(((2 * this.#picks[index]! + 1) * (TICKS / 2)) / this.#weights[index]!);
    return ticks * this.#unit + index;
  }

  /**
   * The new deadline has reached #rounds, at most a round after the one just
   * picked, which was the earliest: every deadline is at least #rounds - 1.
   * Moving them all back by #rounds - 1 whole rounds moves every key by the
   * same integer, so the heap stays ordered as it is.
   */
  #rebase(key: number): number {
    const rounds = this.#rounds - 1;
    const shift = rounds * TICKS * this.#unit;
    const keys = this.#keys;
    for (let at = 0; at < this.#backends.length; at++) {
      keys[at]! -= shift;
      this.#picks[at]! -= rounds * this.#weights[at]!;
    }
    return key - shift;
  }

  /**
   * Places `key` at `at` or below, moving earlier children up. The earlier
   * child is chosen arithmetically, not by a branch: that branch went either
   * way at random, and its mispredictions cost a third of a pick at 1,000
   * backends (85 -> 55 ns).
   */
  #siftDown(at: number, key: number): void {
    const keys = this.#keys;
    const n = this.#backends.length;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      child += +(keys[child + 1]! < keys[child]!);
      const due = keys[child]!;
      if (due > key) break;
      keys[at] = due;
      at = child;
    }
    keys[at] = key;
  }
}
