import { activeCounts, type SlotTable } from '../backends/active-counts.ts';
import type { Backend } from '../backends/backend.ts';
import { scanKernelFor, type ScanKernel } from './least-connections-scan.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';
import { weightOf } from './weights.ts';

/**
 * Fewest open connections per unit of weight. `active` changes on every
 * connection, so nothing can be precomputed: this is the one strategy that
 * scans the whole set per pick, O(n), without allocation. Loads are
 * compared as `a.active × b.weight < b.active × a.weight` (exact, no division).
 *
 * Ties go by rotation: the scan starts after the previous pick and keeps the
 * first of equally loaded backends, so equal backends take turns. A backend
 * that is not accepted is ignored; `accept` is only asked about a backend
 * that would beat the best so far, which keeps the common case cheap, and an
 * idle accepted backend ends the scan since nothing can beat it.
 *
 * The scan reads the counts from the set's slot table by slot, never from
 * the Backend objects: ranges of SHORT backends or more through the
 * WebAssembly kernel in least-connections-scan.ts, shorter ones in JS. A
 * registry's backends share its table (one per service).
 */
class LeastConnectionsPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  /** (activeSlot, weight) of each backend, interleaved, as the scan kernel reads them. */
  readonly #pairs: Int32Array;
  readonly #uniform: boolean;
  readonly #counts: SlotTable;
  readonly #kernel: ScanKernel;
  #start = 0;

  constructor(backends: readonly Backend[]) {
    this.#backends = [...backends];
    this.#counts = backends[0]?.counts ?? activeCounts;
    if (!backends.every((b) => b.counts === this.#counts)) throw new RangeError('least-connections: the backends of one set must share one slot table');
    this.#kernel = scanKernelFor(this.#counts);
    this.#pairs = new Int32Array(backends.length * 2);
    for (let i = 0; i < backends.length; i++) {
      this.#pairs[2 * i] = backends[i]!.activeSlot;
      this.#pairs[2 * i + 1] = weightOf(backends[i]!);
    }
    this.#uniform = backends.every((b) => weightOf(b) === weightOf(backends[0]!));
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
    return to - from < SHORT ? this.#scanInJs(from, to, best, accept) : this.#scanInWasm(from, to, best, accept);
  }

  /** `#scan` for a short range. */
  #scanInJs(from: number, to: number, best: number, accept: Accept): number {
    const list = this.#backends;
    const pairs = this.#pairs;
    const cells = this.#counts.array;
    let bestActive = cells[pairs[2 * best]!]!;
    let bestWeight = pairs[2 * best + 1]!;
    if (bestActive === 0) return best;
    for (let i = from; i < to; i++) {
      const active = cells[pairs[2 * i]!]!;
      const weight = pairs[2 * i + 1]!;
      if (active * bestWeight < bestActive * weight && accept(list[i]!)) {
        best = i;
        bestActive = active;
        bestWeight = weight;
        if (active === 0) break;
      }
    }
    return best;
  }

  /** `#scan` by the kernel, which skips to the next backend that would beat the best; `accept` decides. */
  #scanInWasm(from: number, to: number, best: number, accept: Accept): number {
    const kernel = this.#kernel;
    const list = this.#backends;
    const pairs = this.#pairs;
    const counts = this.#counts;
    let bestActive = counts.array[pairs[2 * best]!]!;
    let bestWeight = pairs[2 * best + 1]!;
    for (let i = from; bestActive !== 0; i++) {
      // Equal weights, the usual case: compare counts alone.
      i = this.#uniform ? kernel.firstBelow(pairs, i, to, bestActive) : kernel.firstLighter(pairs, i, to, bestActive, bestWeight);
      if (i === to) break;
      const active = counts.array[pairs[2 * i]!]!;
      if (accept(list[i]!)) {
        best = i;
        bestActive = active;
        bestWeight = pairs[2 * i + 1]!;
      }
    }
    return best;
  }
}

/** Ranges shorter than this are scanned in JS: entering WebAssembly costs about as much as 30 backends. */
const SHORT = 32;

export function leastConnections(): Strategy {
  return { name: 'least-connections', build: (backends) => new LeastConnectionsPicker(backends) };
}
