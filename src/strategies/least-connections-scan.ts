/**
 * The inner loop of least-connections: find the next backend that is less
 * loaded than the best so far. It runs as a 187-byte WebAssembly kernel over
 * the connection counts in `activeCounts`: V8 compiles a JS loop over typed
 * arrays with a map check, a bounds check and a base-pointer reload on every
 * element, about three times the work of the same loop in WebAssembly.
 *
 * A picker's backends are described by `pairs`: (activeSlot, weight) per
 * backend, interleaved, never changed after the picker is built. Before a
 * scan they are copied into the table's scratch area, where the kernel can
 * read them; the copy stays until another picker scans or the table grows,
 * so it costs 8 bytes per backend only when the current picker changes.
 *
 * Each slot table (one per registry, so one per service) has its own kernel
 * instance and scratch area: two services scanning in turn never share or
 * overwrite each other's state. Only the compiled module is process-wide,
 * and it is immutable code.
 */
import type { SlotTable } from '../backends/active-counts.ts';
import { MAX_WEIGHT } from '../config/parse.ts';

/*
 * The kernel's source. To change it, save it as lc.wat, run
 * `npx -p wabt wat2wasm lc.wat` and base64 lc.wasm into WASM below; the
 * tests in least-connections-scan.test.ts hold it to a plain model.
 * Addresses are bytes; count(slot) is the int32 at 4 × slot; a pair is
 * (slot, weight) at p and p + 4.
 *
 * (module
 *   (import "env" "memory" (memory 0))
 *   ;; The address of the first pair in [p, end) whose count < best, else end.
 *   (func (export "below") (param $p i32) (param $end i32) (param $best i32) (result i32)
 *     (block $found
 *       (loop $next
 *         (br_if $found (i32.ge_u (local.get $p) (local.get $end)))
 *         (br_if $found (i32.lt_s
 *           (i32.load (i32.shl (i32.load (local.get $p)) (i32.const 2)))
 *           (local.get $best)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 8)))
 *         (br $next)))
 *     (local.get $p))
 *   ;; The address of the first pair in [p, end) whose count is outside
 *   ;; [0, limit] or has count × bestWeight < best × weight, else end.
 *   (func (export "belowWeighted")
 *     (param $p i32) (param $end i32) (param $best i32) (param $bestWeight i32) (param $limit i32) (result i32)
 *     (local $count i32)
 *     (block $found
 *       (loop $next
 *         (br_if $found (i32.ge_u (local.get $p) (local.get $end)))
 *         (local.set $count (i32.load (i32.shl (i32.load (local.get $p)) (i32.const 2))))
 *         (br_if $found (i32.gt_u (local.get $count) (local.get $limit)))
 *         (br_if $found (i32.lt_s
 *           (i32.mul (local.get $count) (local.get $bestWeight))
 *           (i32.mul (local.get $best) (i32.load offset=4 (local.get $p)))))
 *         (local.set $p (i32.add (local.get $p) (i32.const 8)))
 *         (br $next)))
 *     (local.get $p)))
 */
const WASM =
  'AGFzbQEAAAABEQJgA39/fwF/YAV/f39/fwF/Ag8BA2VudgZtZW1vcnkCAAADAwIAAQcZAgViZWxvdwAADWJlbG93V2VpZ2h0ZWQAAQptAioAAkADQCAAIAFPDQEgACgCAEECdCgCACACSA0BIABBCGohAAwACwsgAAtAAQF/AkADQCAAIAFPDQEgACgCAEECdCgCACEFIAUgBEsNASAFIANsIAIgACgCBGxIDQEgAEEIaiEADAALCyAACw==';

interface Kernel {
  below(p: number, end: number, best: number): number;
  belowWeighted(p: number, end: number, best: number, bestWeight: number, limit: number): number;
}

const MODULE = new WebAssembly.Module(Buffer.from(WASM, 'base64'));

/**
 * Counts up to LIMIT times any weight (≤ MAX_WEIGHT) fit in an int32, so the
 * kernel's products are exact for counts in [0, LIMIT], over 2 million
 * connections; a count outside that range is handed back for an exact check.
 */
const LIMIT = Math.floor(0x7fff_ffff / MAX_WEIGHT);

/** The scan over one slot table: its kernel instance, and which pairs sit in its scratch area. */
export class ScanKernel {
  readonly #counts: SlotTable;
  readonly #below: Kernel['below'];
  readonly #belowWeighted: Kernel['belowWeighted'];
  /** The pairs now in the scratch area, and where. */
  #placed: Int32Array | undefined;
  #placedLayout = -1;
  #placedAt = 0;

  constructor(counts: SlotTable) {
    this.#counts = counts;
    const kernel = new WebAssembly.Instance(MODULE, { env: { memory: counts.memory } }).exports as unknown as Kernel;
    this.#below = kernel.below;
    this.#belowWeighted = kernel.belowWeighted;
  }

  /** The byte address of `pairs` in the scratch area, copying them there unless they already are. */
  #place(pairs: Int32Array): number {
    const counts = this.#counts;
    if (this.#placed !== pairs || this.#placedLayout !== counts.layout) {
      const cell = counts.scratch(pairs.length);
      counts.array.set(pairs, cell);
      this.#placed = pairs;
      this.#placedLayout = counts.layout;
      this.#placedAt = cell * 4;
    }
    return this.#placedAt;
  }

  /** The first index i in [from, to) whose backend has fewer than `best` connections, or `to`. */
  firstBelow(pairs: Int32Array, from: number, to: number, best: number): number {
    const at = this.#place(pairs);
    return (this.#below(at + from * 8, at + to * 8, best) - at) >> 3;
  }

  /**
   * The first index i in [from, to) whose backend is less loaded than `best`
   * connections at `bestWeight`: count × bestWeight < best × weight, exactly;
   * or `to`.
   */
  firstLighter(pairs: Int32Array, from: number, to: number, best: number, bestWeight: number): number {
    if (best < 0 || best > LIMIT) return this.#firstLighterInJs(pairs, from, to, best, bestWeight);
    while (from < to) {
      const at = this.#place(pairs);
      const i = (this.#belowWeighted(at + from * 8, at + to * 8, best, bestWeight, LIMIT) - at) >> 3;
      if (i === to || this.#lighter(pairs, i, best, bestWeight)) return i;
      from = i + 1;
    }
    return to;
  }

  /** The same as `firstLighter`, for a best count outside [0, LIMIT]. */
  #firstLighterInJs(pairs: Int32Array, from: number, to: number, best: number, bestWeight: number): number {
    for (let i = from; i < to; i++) if (this.#lighter(pairs, i, best, bestWeight)) return i;
    return to;
  }

  /** Exact in doubles: |count| < 2^31 and weight ≤ MAX_WEIGHT keep every product below 2^53. */
  #lighter(pairs: Int32Array, i: number, best: number, bestWeight: number): boolean {
    return this.#counts.array[pairs[2 * i]!]! * bestWeight < best * pairs[2 * i + 1]!;
  }
}

const kernels = new WeakMap<SlotTable, ScanKernel>();

/** The kernel of `counts`, made on first use. */
export function scanKernelFor(counts: SlotTable): ScanKernel {
  let kernel = kernels.get(counts);
  if (!kernel) kernels.set(counts, (kernel = new ScanKernel(counts)));
  return kernel;
}
