/**
 * Coarse timers for every connection at once. A timer per socket costs an
 * allocation and a timer-list insert per connection; instead, two intervals
 * walk the open sessions: pending connects against their deadline, and
 * relaying sessions for progress. Precision is one tick, which is what an
 * operator expects of a timeout measured in seconds or minutes. A walk
 * costs a few ns per open connection (10,000 open, a connect tick of
 * 100 ms: 0.05% of a core).
 *
 * A third interval, once a second, adds each open relay's new bytes to its
 * backend's counters, so traffic shows in /metrics while a long connection
 * runs (not only when it ends) without any work per chunk.
 */

export interface Swept {
  /** Epoch ms after which the connect attempt in progress has failed; 0 when none is in progress. */
  readonly connectDeadline: number;
  connectTimedOut(): void;
  /** Epoch ms since the relay last moved bytes; 0 when not relaying. */
  idleSince: number;
  /** This session's idle timeout, from the settings it started with; 0: none. */
  readonly idleTimeoutMs: number;
  /** The age at which it is ended; 0: none. */
  readonly maxLifetimeMs: number;
  readonly startedAt: number;
  lifetimeEnded(): void;
  /** Total bytes read from both sides; idle while it does not move. */
  progress(): number;
  lastProgress: number;
  idleTimedOut(): void;
  /** Adds the bytes moved since the last call to the backend's counters. */
  countBytes(): void;
}

export interface SweptSet {
  /** Calls `fn` on each open session; `fn` may close the session it is given. */
  forEach(fn: (s: Swept) => void): void;
  readonly size: number;
}

/** How often open connections' bytes reach the counters (the issue asks for at least once a second). */
export const BYTES_TICK_MS = 1000;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Each session carries its own timeouts (the settings it started with), so
 * after a reload old and new sessions may differ; the ticks follow the
 * shortest timeouts seen, which only makes the sweep finer.
 */
export class Sweeper {
  readonly #sessions: SweptSet;
  #connectTimer: NodeJS.Timeout | undefined;
  #connectTick = Infinity;
  #idleTimer: NodeJS.Timeout | undefined;
  #idleTick = Infinity;
  #bytesTimer: NodeJS.Timeout | undefined;

  constructor(sessions: SweptSet, connectTimeoutMs: number, idleTimeoutMs: number, maxLifetimeMs = 0) {
    this.#sessions = sessions;
    this.follow(connectTimeoutMs, idleTimeoutMs, maxLifetimeMs);
    this.#bytesTimer = setInterval(() => this.#countBytes(), BYTES_TICK_MS).unref();
  }

  /** Makes the ticks fine enough for these timeouts too (a reload changed them). */
  follow(connectTimeoutMs: number, idleTimeoutMs: number, maxLifetimeMs = 0): void {
    const connectTick = clamp(connectTimeoutMs / 10, 5, 100);
    if (connectTick < this.#connectTick) {
      clearInterval(this.#connectTimer);
      this.#connectTick = connectTick;
      this.#connectTimer = setInterval(() => this.#sweepConnecting(), connectTick).unref();
    }
    const idleTick = Math.min(idleTimeoutMs > 0 ? clamp(idleTimeoutMs / 8, 5, 1000) : Infinity, maxLifetimeMs > 0 ? clamp(maxLifetimeMs / 8, 5, 1000) : Infinity);
    if (idleTick < this.#idleTick) {
      clearInterval(this.#idleTimer);
      this.#idleTick = idleTick;
      this.#idleTimer = setInterval(() => this.#sweepIdle(), idleTick).unref();
    }
  }

  #sweepConnecting(): void {
    if (this.#sessions.size === 0) return;
    const now = Date.now();
    this.#sessions.forEach((s) => {
      if (s.connectDeadline !== 0 && now >= s.connectDeadline) s.connectTimedOut();
    });
  }

  #sweepIdle(): void {
    if (this.#sessions.size === 0) return;
    const now = Date.now();
    this.#sessions.forEach((s) => {
      if (s.idleSince === 0) return;
      const lifetime = s.maxLifetimeMs;
      if (lifetime !== 0 && now - s.startedAt >= lifetime) return s.lifetimeEnded();
      const idleMs = s.idleTimeoutMs;
      if (idleMs === 0) return;
      const p = s.progress();
      if (p !== s.lastProgress) {
        s.lastProgress = p;
        s.idleSince = now;
      } else if (now - s.idleSince >= idleMs) {
        s.idleTimedOut();
      }
    });
  }

  #countBytes(): void {
    if (this.#sessions.size === 0) return;
    this.#sessions.forEach((s) => s.countBytes());
  }

  stop(): void {
    clearInterval(this.#connectTimer);
    clearInterval(this.#idleTimer);
    clearInterval(this.#bytesTimer);
    this.#connectTimer = this.#idleTimer = this.#bytesTimer = undefined;
    this.#connectTick = this.#idleTick = Infinity;
  }
}
