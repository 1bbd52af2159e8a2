import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';
import { weightOf } from './weights.ts';

/**
 * Fewest open connections per unit of weight. `active` changes on every
 * connection, so nothing can be precomputed: this is the one strategy that
 * scans the whole set per pick, O(n), kept to a plain loop without
 * allocation. Loads are compared as `a.active × b.weight < b.active × a.weight`
 * (exact, no division).
 *
 * Ties go by rotation: the scan starts after the previous pick and keeps the
 * first of equally loaded backends, so equal backends take turns. A backend
 * that is not accepted is ignored; `accept` is only asked about a backend
 * that would beat the best so far, which keeps the common case cheap, and an
 * idle accepted backend ends the scan since nothing can beat it.
 */
class LeastConnectionsPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #weights: Int32Array;
  readonly #uniform: boolean;
  #start = 0;

  constructor(backends: readonly Backend[]) {
    this.#backends = [...backends];
    this.#weights = Int32Array.from(backends, weightOf);
    this.#uniform = this.#weights.every((w) => w === this.#weights[0]);
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    const start = this.#start;
    let best = -1;
    for (let k = 0, i = start; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (accept(list[i]!)) {
        best = i;
        break;
      }
    }
    if (best < 0) return undefined;
    if (best >= start) {
      best = this.#scan(best + 1, n, best, accept);
      best = this.#scan(0, start, best, accept);
    } else {
      best = this.#scan(best + 1, start, best, accept);
    }
    this.#start = best + 1 === n ? 0 : best + 1;
    return list[best];
  }

  /** The least loaded of `best` and the accepted backends in [from, to); the earliest on a tie. */
  #scan(from: number, to: number, best: number, accept: Accept): number {
    const list = this.#backends;
    let bestActive = list[best]!.active;
    if (bestActive === 0) return best;
    if (this.#uniform) {
      // Equal weights, the usual case: compare counts alone (a quarter faster).
      for (let i = from; i < to; i++) {
        const b = list[i]!;
        const active = b.active;
        if (active < bestActive && accept(b)) {
          best = i;
          bestActive = active;
          if (active === 0) break;
        }
      }
      return best;
    }
    const weights = this.#weights;
    let bestWeight = weights[best]!;
    for (let i = from; i < to; i++) {
      const b = list[i]!;
      const active = b.active;
      if (active * bestWeight < bestActive * weights[i]! && accept(b)) {
        best = i;
        bestActive = active;
        bestWeight = weights[i]!;
        if (active === 0) break;
      }
    }
    return best;
  }
}

export function leastConnections(): Strategy {
  return { name: 'least-connections', build: (backends) => new LeastConnectionsPicker(backends) };
}
