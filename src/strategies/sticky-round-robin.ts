import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';

/** One remembered client IP, linked into the table's recency list. */
interface Stick {
  readonly ip: string;
  /** Backend key, not the object: the backend may be replaced or removed by a rebuild. */
  key: string;
  /** Last time this client IP was picked for, by `options.now()`. */
  seen: number;
  /**
   * Memo of where `key` sits in the list of picker number `build`, so that
   * repeat clients skip the key lookup; -1 when it is not there. Any other
   * picker resolves the key afresh.
   */
  slot: number;
  build: number;
  older: Stick | undefined;
  newer: Stick | undefined;
}

/**
 * Client IP → backend key. Owned by the strategy so it outlives rebuilds.
 * Entries are kept in a doubly linked list from least to most recently seen,
 * so a touch is a few pointer moves (re-inserting into a Map costs ten times
 * more). Bounded by `maxEntries`, the least recently seen going first;
 * expired entries are ignored on lookup and dropped from the old end
 * whenever a new IP is added.
 */
class StickyTable {
  readonly #entries = new Map<string, Stick>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  #oldest: Stick | undefined;
  #newest: Stick | undefined;

  constructor(ttlMs: number, maxEntries: number) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = Math.max(1, maxEntries);
  }

  /** The live entry for `ip`, or undefined if there is none or it has been idle for the TTL or longer. */
  get(ip: string, now: number): Stick | undefined {
    const stick = this.#entries.get(ip);
    return stick !== undefined && now - stick.seen < this.#ttlMs ? stick : undefined;
  }

  /** Marks an entry as seen now: it becomes the newest. */
  touch(stick: Stick, now: number): void {
    stick.seen = now;
    if (stick === this.#newest) return;
    this.#unlink(stick);
    this.#append(stick);
  }

  /** Records that `ip` now uses `key`, as the most recently seen entry. */
  set(ip: string, key: string, now: number): Stick {
    const existing = this.#entries.get(ip);
    if (existing !== undefined) {
      existing.key = key;
      this.touch(existing, now);
      return existing;
    }
    for (let old = this.#oldest; old !== undefined; old = this.#oldest) {
      if (this.#entries.size < this.#maxEntries && now - old.seen < this.#ttlMs) break;
      this.#unlink(old);
      this.#entries.delete(old.ip);
    }
    const stick: Stick = { ip, key, seen: now, slot: -1, build: 0, older: undefined, newer: undefined };
    this.#entries.set(ip, stick);
    this.#append(stick);
    return stick;
  }

  #unlink(stick: Stick): void {
    if (stick.older === undefined) this.#oldest = stick.newer;
    else stick.older.newer = stick.newer;
    if (stick.newer === undefined) this.#newest = stick.older;
    else stick.newer.older = stick.older;
    stick.older = stick.newer = undefined;
  }

  #append(stick: Stick): void {
    stick.older = this.#newest;
    if (this.#newest === undefined) this.#oldest = stick;
    else this.#newest.newer = stick;
    this.#newest = stick;
  }
}

/**
 * Plain round robin for a client's first connection; later connections from
 * the same IP go to the same backend while it is accepted. When it is not
 * (down, draining, removed, or already tried by this connection), the next
 * accepted backend in the rotation takes over and the table follows it.
 */
class StickyRoundRobinPicker implements Picker {
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
