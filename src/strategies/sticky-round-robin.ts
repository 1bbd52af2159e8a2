import type { Backend } from '../backends/backend.ts';
import { StickyTable } from './sticky-table.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';

/**
 * Plain round robin for a client's first connection; later connections from
 * the same IP go to the same backend while it is accepted. When it is not
 * (down, draining, removed, or already tried by this connection), the next
 * accepted backend in the rotation takes over and the table follows it.
 */
class StickyRoundRobinPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #slotOf = new Map<string, number>();
  readonly #table: StickyTable;
  readonly #now: () => number;
  /** This picker's number among the strategy's builds (see `Stick.slot`). */
  readonly #build: number;
  #next = 0;

  constructor(backends: readonly Backend[], table: StickyTable, now: () => number, build: number) {
    this.#backends = [...backends];
    this.#table = table;
    this.#now = now;
    this.#build = build;
    backends.forEach((b, i) => this.#slotOf.set(b.key, i));
  }

  pick(ctx: PickContext, accept: Accept): Backend | undefined {
    const now = this.#now();
    const stick = this.#table.get(ctx.clientIp, now);
    if (stick !== undefined) {
      if (stick.build !== this.#build) {
        stick.slot = this.#slotOf.get(stick.key) ?? -1;
        stick.build = this.#build;
      }
      const b = this.#backends[stick.slot];
      if (b !== undefined && accept(b)) {
        this.#table.touch(stick, now);
        return b;
      }
    }
    const slot = this.#rotate(accept);
    if (slot < 0) return undefined;
    const b = this.#backends[slot]!;
    const updated = this.#table.set(ctx.clientIp, b.key, now);
    updated.slot = slot;
    updated.build = this.#build;
    return b;
  }

  /** The index of the next accepted backend in the rotation, or -1. */
  #rotate(accept: Accept): number {
    const n = this.#backends.length;
    for (let i = 0; i < n; i++) {
      const slot = this.#next;
      this.#next = slot + 1 === n ? 0 : slot + 1;
      if (accept(this.#backends[slot]!)) return slot;
    }
    return -1;
  }
}

export function stickyRoundRobin(options: Pick<StrategyOptions, 'stickyTtlMs' | 'stickyMaxEntries' | 'now'>): Strategy {
  const table = new StickyTable(options.stickyTtlMs, options.stickyMaxEntries);
  let builds = 0;
  return {
    name: 'sticky-round-robin',
    build: (backends) => new StickyRoundRobinPicker(backends, table, options.now, ++builds),
  };
}
