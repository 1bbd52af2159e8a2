/**
 * Every backend's count of open connections, kept in one contiguous block
 * of int32 cells rather than on the Backend objects, so that
 * least-connections scans adjacent integers instead of loading a field from
 * each of a thousand objects. `Backend.active` is an accessor over its slot
 * here; nothing else needs to know.
 *
 * The cells are a WebAssembly.Memory so that the least-connections scan
 * kernel (src/strategies/least-connections-scan.ts) can read them directly.
 */

/** 64 KiB, the unit WebAssembly memory grows by. */
const PAGE_BYTES = 65_536;

/**
 * A growable table of int32 slots in a WebAssembly.Memory: slot `s` is cell
 * `s` (byte 4s). After the slots, from cell `capacity` on, lies a scratch
 * area that one user may borrow (the least-connections scan copies its
 * picker's slots and weights there). A slot belongs to one owner from
 * `allocate` to `release`; the caller decides when releasing is safe.
 */
export class SlotTable {
  readonly memory: WebAssembly.Memory;
  #array: Int32Array;
  #capacity: number;
  /** Slots handed back and not yet reused, most recent last. */
  readonly #free: number[] = [];
  /** Slots below this have been handed out at least once. */
  #used = 0;
  #layout = 0;
  /**
   * The sum of the slots: connections open or being set up across the
   * table's backends (its service's), kept by `Backend.active` as it
   * changes, so that maglev's bound on load reads it in O(1).
   */
  open = 0;
  /** Weight of the service's ready backends (weights.ts weightOf), kept by its registry; 0 until it counts. */
  readyWeight = 0;

  /**
   * Per slot, lrt's smoothed connect time (cell 2s, ms) and when it was last
   * sampled (cell 2s + 1, epoch ms; 0: never): contiguous, as the counts
   * are, because lrt reads them for every backend on every pick and a load
   * from each of a thousand Backend objects cost ~15 ns apiece in cache misses.
   */
  #times: Float64Array;

  constructor(capacity = 1024) {
    this.#capacity = Math.max(1, capacity);
    this.#times = new Float64Array(2 * this.#capacity);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil((this.#capacity * 4) / PAGE_BYTES) });
    this.#array = new Int32Array(this.memory.buffer);
  }

  /**
   * All the cells: the slots, then the scratch area. Growth replaces it (the
   * old one is detached and reads as empty): read it through this getter at
   * each use, never keep it across a pick or an `allocate`.
   */
  get array(): Int32Array {
    return this.#array;
  }

  /** lrt's connect times by slot (see `#times`); replaced when the slots grow: re-read at each use. */
  get times(): Float64Array {
    return this.#times;
  }

  /** Number of slot cells; the scratch area starts at this cell. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Changes whenever the scratch area moves (the slots grew over it); its contents are then lost. */
  get layout(): number {
    return this.#layout;
  }

  /** Slots handed out and not released. */
  get size(): number {
    return this.#used - this.#free.length;
  }

  /** A slot set to 0: the last one released if any, else the next new one, doubling the slots when full. */
  allocate(): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#used++;
      if (slot === this.#capacity) {
        this.#capacity *= 2;
        this.#layout++;
        const times = new Float64Array(2 * this.#capacity);
        times.set(this.#times);
        this.#times = times;
        this.#reserve(this.#capacity);
      }
    }
    // A slot handed back with connections still counted would leave them in `open` for ever.
    this.open -= this.#array[slot]!;
    this.#array[slot] = 0;
    this.#times[2 * slot] = this.#times[2 * slot + 1] = 0;
    return slot;
  }

  /** Hands a slot back for reuse. The caller guarantees that nothing reads or writes it any more. */
  release(slot: number): void {
    this.#free.push(slot);
  }

  /**
   * Makes cells [capacity, capacity + cells) usable as scratch and returns
   * `capacity`, its first cell. The area is the one caller's until `layout`
   * changes; re-read `array` afterwards, since this may grow the memory.
   */
  scratch(cells: number): number {
    this.#reserve(this.#capacity + cells);
    return this.#capacity;
  }

  /** Grows the memory to hold at least `cells` cells. */
  #reserve(cells: number): void {
    const missing = cells * 4 - this.memory.buffer.byteLength;
    if (missing <= 0) return;
    this.memory.grow(Math.ceil(missing / PAGE_BYTES));
    this.#array = new Int32Array(this.memory.buffer);
  }
}

/**
 * The table of Backends made outside a registry (tests, benchmarks). Every
 * Registry, so every service, has a table of its own: nothing a service's
 * least-connections scan touches is shared with another service.
 */
export const activeCounts = new SlotTable();

/**
 * A slot is released only once its Backend has been garbage-collected: until
 * then anything may still hold the object and write `active` through it (a
 * removed backend draining its connections, the worker's retiring set, a
 * session's list of tried backends, an old snapshot, a test), so freeing a
 * removed backend at 0 connections could let a late write land in another
 * backend's count. Pickers hold their Backend objects, so every slot a picker
 * scans is live. Memory: 4 bytes per live Backend object, at most doubled by
 * growth, plus the scratch area; it never shrinks.
 */
const collected = new FinalizationRegistry<{ table: SlotTable; slot: number }>(({ table, slot }) => table.release(slot));

/** A slot in `table` for `owner`'s lifetime, starting at 0. */
export function allocateActiveSlot(owner: object, table: SlotTable = activeCounts): number {
  const slot = table.allocate();
  collected.register(owner, { table, slot });
  return slot;
}
