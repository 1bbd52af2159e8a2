/** One remembered client IP, linked into the table's recency list. */
export interface Stick {
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
 * Sticky round robin's memory: client IP → backend key. Owned by the
 * strategy, not a picker, so that it outlives rebuilds. Entries are kept in
 * a doubly linked list from least to most recently seen, so a touch is a few
 * pointer moves (re-inserting into a Map costs ten times more). Bounded by
 * `maxEntries`, the least recently seen going first; expired entries are
 * ignored on lookup and dropped from the old end whenever a new IP is added,
 * so an idle table keeps its last entries until new clients arrive.
 */
export class StickyTable {
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
