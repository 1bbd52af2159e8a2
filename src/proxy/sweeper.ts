/**
 * Coarse timers for every connection at once. A timer per socket costs an
 * allocation and a timer-list insert per connection; instead, two intervals
 * walk the open sessions: pending connects against their deadline, and
 * relaying sessions for progress. Precision is one tick, which is what an
 * operator expects of a timeout measured in seconds or minutes. A walk
 * costs a few ns per open connection (10,000 open, a connect tick of
 * 100 ms: 0.05% of a core).
 */

export interface Swept {
  /** Epoch ms after which the connect attempt in progress has failed; 0 when none is in progress. */
  readonly connectDeadline: number;
  connectTimedOut(): void;
  /** Epoch ms since the relay last moved bytes; 0 when not relaying. */
  idleSince: number;
  /** Total bytes read from both sides; idle while it does not move. */
  progress(): number;
  lastProgress: number;
  idleTimedOut(): void;
}

export interface SweptSet {
  /** Calls `fn` on each open session; `fn` may close the session it is given. */
  forEach(fn: (s: Swept) => void): void;
  readonly size: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export class Sweeper {
  readonly #sessions: SweptSet;
  readonly #idleMs: number;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(sessions: SweptSet, connectTimeoutMs: number, idleTimeoutMs: number) {
    this.#sessions = sessions;
    this.#idleMs = idleTimeoutMs;
    const connectTick = clamp(connectTimeoutMs / 10, 5, 100);
    this.#timers.push(setInterval(() => this.#sweepConnecting(), connectTick).unref());
    if (idleTimeoutMs > 0) {
      const idleTick = clamp(idleTimeoutMs / 8, 5, 1000);
      this.#timers.push(setInterval(() => this.#sweepIdle(), idleTick).unref());
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
    const idleMs = this.#idleMs;
    this.#sessions.forEach((s) => {
      if (s.idleSince === 0) return;
      const p = s.progress();
      if (p !== s.lastProgress) {
        s.lastProgress = p;
        s.idleSince = now;
      } else if (now - s.idleSince >= idleMs) {
        s.idleTimedOut();
      }
    });
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }
}
