import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';
import { weightOf } from './weights.ts';

/**
 * Fewest open connections per unit of weight. `active` changes on every
 * connection, so nothing can be precomputed: this is the one strategy that
 * scans the whole set per pick, O(n), kept to a plain loop without
 * allocation. Loads are compared as `a.active × b.weight < b.active × a.weight`
 * (exact integers, no division).
 *
 * Ties go by rotation: the scan starts after the previous pick and keeps the
 * first of equally loaded backends, so equal backends take turns. A backend
 * that is not accepted is ignored; `accept` is only asked about a backend
 * that would beat the best so far, which keeps the common case cheap, and an
 * idle accepted backend ends the scan since nothing can beat it.
 */
class LeastConnectionsPicker implements Picker {
  readonly #backends: readonly Backend[];
  readonly #weights: Int32Array;
  #start = 0;

  constructor(backends: readonly Backend[]) {
    this.#backends = backends;
    this.#weights = new Int32Array(backends.length);
    for (let i = 0; i < backends.length; i++) this.#weights[i] = weightOf(backends[i]!);
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const weights = this.#weights;
    const n = list.length;
    let best = -1;
    let bestActive = 0;
    let bestWeight = 1;
    let i = this.#start;
    for (let seen = 0; seen < n; seen++) {
      const b = list[i]!;
      const w = weights[i]!;
      if ((best < 0 || b.active * bestWeight < bestActive * w) && accept(b)) {
        best = i;
        bestActive = b.active;
        bestWeight = w;
        if (bestActive === 0) break;
      }
      i = i + 1 === n ? 0 : i + 1;
    }
    if (best < 0) return undefined;
    this.#start = best + 1 === n ? 0 : best + 1;
    return list[best];
  }
}

export function leastConnections(): Strategy {
  return { name: 'least-connections', build: (backends) => new LeastConnectionsPicker(backends) };
}
