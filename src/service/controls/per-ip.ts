/**
 * Per-client-IP limits: open connections (nginx `limit_conn`) and a
 * connection rate as a token bucket (HAProxy's `sc_conn_rate` in a
 * stick-table), in one bounded table.
 *
 * The table holds at most `maxEntries` IPs. An entry with no open connection
 * and a full bucket carries no information and is dropped when it is touched
 * or when room is needed (oldest first: the Map keeps touch order, since an
 * entry is re-inserted when touched). When every entry has open connections
 * and the table is full, a new IP is admitted untracked and counted
 * (`untracked`), as HAProxy does when a stick-table cannot store: memory
 * stays within `maxEntries` × the size of an entry whatever the traffic.
 */
export interface PerIpLimits {
  /** 0: no limit. */
  readonly maxConnectionsPerIp: number;
  /** New connections allowed per `ratePeriodMs` per IP; 0: no limit. */
  readonly connectionRate: number;
  readonly ratePeriodMs: number;
}

interface Entry {
  open: number;
  tokens: number;
  /** When `tokens` was last brought up to date, epoch ms. */
  at: number;
}

export type PerIpVerdict = 'ok' | 'per-ip-connections' | 'per-ip-rate';

export const DEFAULT_MAX_IP_ENTRIES = 100_000;

export class PerIpTable {
  readonly #limits: PerIpLimits;
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  /** Connections admitted without an entry because the table was full of IPs with open connections. */
  untracked = 0;

  constructor(limits: PerIpLimits, maxEntries = DEFAULT_MAX_IP_ENTRIES, now: () => number = Date.now) {
    this.#limits = limits;
    this.#max = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Takes a connection for `ip`, or says which limit refuses it. An admitted one must be `release`d exactly once. */
  admit(ip: string): PerIpVerdict {
    const { maxConnectionsPerIp, connectionRate, ratePeriodMs } = this.#limits;
    const now = this.#now();
    let e = this.#entries.get(ip);
    if (e) {
      this.#entries.delete(ip); // re-inserted below: the Map's order is touch order
    } else {
      if (this.#entries.size >= this.#max && !this.#evictOne()) {
        this.untracked++;
        return 'ok';
      }
      e = { open: 0, tokens: connectionRate, at: now };
    }
    if (connectionRate > 0) {
      e.tokens = Math.min(connectionRate, e.tokens + ((now - e.at) * connectionRate) / ratePeriodMs);
      e.at = now;
    }
    let verdict: PerIpVerdict = 'ok';
    if (maxConnectionsPerIp > 0 && e.open >= maxConnectionsPerIp) verdict = 'per-ip-connections';
    else if (connectionRate > 0 && e.tokens < 1) verdict = 'per-ip-rate';
    else {
      e.open++;
      if (connectionRate > 0) e.tokens -= 1;
    }
    this.#entries.set(ip, e);
    return verdict;
  }

  /** A connection `admit` took has ended. An untracked one finds no entry and changes nothing. */
  release(ip: string): void {
    const e = this.#entries.get(ip);
    if (!e || e.open === 0) return;
    e.open--;
  }

  /** Drops the oldest entry that carries nothing (no open connection, bucket full by now); false when none can go. */
  #evictOne(): boolean {
    const { connectionRate, ratePeriodMs } = this.#limits;
    const now = this.#now();
    let scanned = 0;
    for (const [ip, e] of this.#entries) {
      // Bounded work per admission: idle entries gather at the front (oldest touch first).
      if (++scanned > 64) return false;
      if (e.open > 0) continue;
      if (connectionRate > 0 && e.tokens + ((now - e.at) * connectionRate) / ratePeriodMs < connectionRate) continue;
      this.#entries.delete(ip);
      return true;
    }
    return false;
  }
}
