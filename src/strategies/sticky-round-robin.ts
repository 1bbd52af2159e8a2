import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';

interface Stick {
  /** Backend key, not the object: the backend may be replaced or removed by a rebuild. */
  key: string;
  /** Last time this client IP was picked for, by `options.now()`. */
  seen: number;
}

/**
 * Client IP → backend key, least recently seen first (Map insertion order;
 * a touch deletes and re-inserts). Owned by the strategy so it outlives
 * rebuilds. Bounded by `maxEntries`; expired entries are ignored on lookup
 * and dropped from the old end whenever a new IP is added.
 */
class StickyTable {
  readonly #entries = new Map<string, Stick>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries: number) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = Math.max(1, maxEntries);
  }

  /** The live entry for `ip`, or undefined if there is none or it has been idle for the TTL or longer. */
  get(ip: string, now: number): Stick | undefined {
    const stick = this.#entries.get(ip);
    return stick !== undefined && now - stick.seen < this.#ttlMs ? stick : undefined;
  }

  /** Marks a live entry as seen now: it moves to the young end. */
  touch(ip: string, stick: Stick, now: number): void {
    stick.seen = now;
    this.#entries.delete(ip);
    this.#entries.set(ip, stick);
  }

  /** Records that `ip` now uses `key`, as the most recently seen entry. */
  set(ip: string, key: string, now: number): void {
    const entries = this.#entries;
    const stick = entries.get(ip);
    if (stick !== undefined) {
      stick.key = key;
      this.touch(ip, stick, now);
      return;
    }
    for (const [oldIp, old] of entries) {
      if (entries.size < this.#maxEntries && now - old.seen < this.#ttlMs) break;
      entries.delete(oldIp);
    }
    entries.set(ip, { key, seen: now });
  }
}

/**
 * Plain round robin for a client's first connection; later connections from
 * the same IP go to the same backend while it is accepted. When it is not
 * (down, draining, removed, or already tried by this connection), the next
 * accepted backend in the rotation takes over and the table follows it.
 */
class StickyRoundRobinPicker implements Picker {
  readonly #backends: readonly Backend[];
  readonly #byKey = new Map<string, Backend>();
  readonly #table: StickyTable;
  readonly #now: () => number;
  #next = 0;

  constructor(backends: readonly Backend[], table: StickyTable, now: () => number) {
    this.#backends = backends;
    this.#table = table;
    this.#now = now;
    for (const b of backends) this.#byKey.set(b.key, b);
  }

  pick(ctx: PickContext, accept: Accept): Backend | undefined {
    const now = this.#now();
    const stick = this.#table.get(ctx.clientIp, now);
    if (stick !== undefined) {
      const b = this.#byKey.get(stick.key);
      if (b !== undefined && accept(b)) {
        this.#table.touch(ctx.clientIp, stick, now);
        return b;
      }
    }
    const b = this.#rotate(accept);
    if (b !== undefined) this.#table.set(ctx.clientIp, b.key, now);
    return b;
  }

  #rotate(accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const b = list[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (accept(b)) return b;
    }
    return undefined;
  }
}

export function stickyRoundRobin(options: Pick<StrategyOptions, 'stickyTtlMs' | 'stickyMaxEntries' | 'now'>): Strategy {
  const table = new StickyTable(options.stickyTtlMs, options.stickyMaxEntries);
  return {
    name: 'sticky-round-robin',
    build: (backends) => new StickyRoundRobinPicker(backends, table, options.now),
  };
}
