/**
 * `lrt`, least response time: the backend with the lowest smoothed connect
 * time × (open connections + 1) per unit of weight, as nginx Plus's
 * `least_time connect`. Connect time is what a layer-4 balancer sees of a
 * backend's responsiveness (an overloaded host is slow to accept).
 *
 * Smoothing, per backend (kept on the Backend, so it survives rebuilds):
 * - each successful connect is a sample x (ms, from the data plane's
 *   performance.now() around the connect); the first sets the value, later
 *   ones move it by ALPHA: v ← v + 0.3 (x − v), so the last six connects
 *   carry 88% of the weight;
 * - a value not refreshed for IDLE_MS decays by half every HALF_LIFE_MS
 *   after that (linearly within each half-life), so a backend that was
 *   slow once, and so stopped getting connections, is tried again after a
 *   while and measured anew;
 * - a backend with no sample yet counts as the mean of the measured ones,
 *   and wins a tie, so that it gets measured (with none measured at all,
 *   lrt is least connections);
 * - FLOOR_MS is added to every value, so a backend measured at (or decayed
 *   to) almost 0 still sees its load count: without it, 0 × (open + 1)
 *   would send it every connection until its next sample.
 *
 * A pick scans every backend, O(n) like least-connections, and never
 * allocates. Ties go by rotation, as in least-connections.
 */
import { activeCounts, type SlotTable } from '../backends/active-counts.ts';
import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { weightOf } from './weights.ts';

export const ALPHA = 0.3;
export const IDLE_MS = 5_000;
export const HALF_LIFE_MS = 10_000;
export const FLOOR_MS = 0.05;

/** One connect of `ms` to `backend`, measured at `at` (epoch ms): the data plane's one update per connect. */
export function recordConnectTime(backend: Backend, ms: number, at: number): void {
  const sample = ms > 0 ? ms : 0;
  backend.connectTimeMs = backend.connectTimeAt === 0 ? sample : smoothedConnectTime(backend, at) * (1 - ALPHA) + sample * ALPHA;
  backend.connectTimeAt = at;
}

/** The smoothed connect time at `now`, decayed if idle; -1 when never measured. */
export function smoothedConnectTime(backend: Backend, now: number): number {
  return smoothedAt(backend.counts.times, backend.activeSlot, now);
}

/** `smoothedConnectTime` of the backend in `slot`, read from its table's `times`. */
function smoothedAt(times: Float64Array, slot: number, now: number): number {
  const at = times[2 * slot + 1]!;
  if (at === 0) return -1;
  const idle = now - at - IDLE_MS;
  if (idle <= 0) return times[2 * slot]!;
  // 2^-x, piecewise linear between whole halvings (exact at each): `**` per backend per pick cost ~100 ns at 1,000 idle backends.
  const x = idle / HALF_LIFE_MS;
  const k = Math.floor(x);
  return k >= 30 ? 0 : (times[2 * slot]! * (1 - (x - k) / 2)) / (1 << k);
}

class LeastResponseTimePicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  /** 1 / weight per backend: a multiplication per backend instead of a division. */
  readonly #perWeight: Float64Array;
  /** Each backend's slot in the shared count table, read directly rather than through the `active` getter. */
  readonly #slots: Int32Array;
  readonly #counts: SlotTable;
  readonly #now: () => number;
  #start = 0;

  constructor(backends: readonly Backend[], now: () => number) {
    this.#backends = [...backends];
    this.#now = now;
    this.#counts = backends[0]?.counts ?? activeCounts;
    this.#perWeight = new Float64Array(backends.length);
    this.#slots = new Int32Array(backends.length);
    for (let i = 0; i < backends.length; i++) {
      const b = backends[i]!;
      if (b.counts !== this.#counts) throw new RangeError('least-response-time: the backends of one set must share one slot table');
      this.#perWeight[i] = 1 / weightOf(b);
      this.#slots[i] = b.activeSlot;
    }
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    if (n === 0) return undefined;
    const now = this.#now();
    // One pass: the best measured backend by (t + FLOOR) × (open + 1) / w, the best unmeasured one
    // by (open + 1) / w, and the mean measured time that the unmeasured ones are taken to have.
    let best = -1;
    let bestScore = Infinity;
    let bare = -1;
    let bareLoad = Infinity;
    let sum = 0;
    let measured = 0;
    const cells = this.#counts.array;
    const times = this.#counts.times;
    const slots = this.#slots;
    const perWeight = this.#perWeight;
    for (let k = 0, i = this.#start; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      const slot = slots[i]!;
      const t = smoothedAt(times, slot, now);
      const load = (cells[slot]! + 1) * perWeight[i]!;
      if (t >= 0) {
        sum += t;
        measured++;
        const score = (t + FLOOR_MS) * load;
        if (score < bestScore && accept(list[i]!)) {
          best = i;
          bestScore = score;
        }
      } else if (load < bareLoad && accept(list[i]!)) {
        bare = i;
        bareLoad = load;
      }
    }
    // On a tie the unmeasured one: it gets measured.
    if (bare >= 0 && (best < 0 || ((measured > 0 ? sum / measured : 0) + FLOOR_MS) * bareLoad <= bestScore)) best = bare;
    if (best < 0) return undefined;
    this.#start = best + 1 === n ? 0 : best + 1;
    return list[best];
  }
}

export function leastResponseTime(options: StrategyOptions): Strategy {
  return { name: 'least-response-time', build: (backends) => new LeastResponseTimePicker(backends, options.now) };
}
