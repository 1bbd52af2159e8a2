/**
 * Coarse timers for every connection at once. A timer per socket costs an
 * allocation and a timer-list insert per connection; instead, two intervals
 * scan small sets: pending connects against their deadline, and relaying
 * sessions for progress. Precision is one tick, which is what an operator
 * expects of a timeout measured in seconds or minutes.
 */

export interface Connecting {
  /** Epoch ms after which the attempt has failed. */
  connectDeadline: number;
  connectTimedOut(): void;
}

export interface Relaying {
  /** Total bytes read from both sides; idle while it does not move. */
  progress(): number;
  lastProgress: number;
  idleSince: number;
  idleTimedOut(): void;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export class Sweeper {
  readonly connecting = new Set<Connecting>();
  readonly relaying = new Set<Relaying>();
  readonly #idleMs: number;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(connectTimeoutMs: number, idleTimeoutMs: number) {
    this.#idleMs = idleTimeoutMs;
    const connectTick = clamp(connectTimeoutMs / 10, 5, 100);
    this.#timers.push(setInterval(() => this.#sweepConnecting(), connectTick).unref());
    if (idleTimeoutMs > 0) {
      const idleTick = clamp(idleTimeoutMs / 8, 5, 1000);
      this.#timers.push(setInterval(() => this.#sweepIdle(), idleTick).unref());
    }
  }

  #sweepConnecting(): void {
    if (this.connecting.size === 0) return;
    const now = Date.now();
    for (const c of this.connecting) {
      if (now >= c.connectDeadline) {
        this.connecting.delete(c);
        c.connectTimedOut();
      }
    }
  }

  #sweepIdle(): void {
    if (this.relaying.size === 0) return;
    const now = Date.now();
    for (const r of this.relaying) {
      const p = r.progress();
      if (p !== r.lastProgress) {
        r.lastProgress = p;
        r.idleSince = now;
      } else if (now - r.idleSince >= this.#idleMs) {
        this.relaying.delete(r);
        r.idleTimedOut();
      }
    }
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }
}
