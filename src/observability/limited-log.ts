/**
 * Warnings that repeat per connection (no backend, out of descriptors, an
 * accept that failed) at most once a second per kind: the first of a second
 * is logged at once, the rest are counted, and the count goes out with the
 * next line of that kind, or on its own when the second ends. A flood of
 * refused connections then costs a few lines, not one each.
 */
import type { Logger } from './log.ts';

type Level = 'warn' | 'error';

interface Kind {
  /** When the current window ends (epoch ms); 0 when none is open. */
  until: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
  last: { level: Level; fields: Record<string, unknown>; msg: string } | undefined;
}

export class LimitedLog {
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #kinds = new Map<string, Kind>();

  constructor(log: Logger, windowMs = 1000, now: () => number = Date.now) {
    this.#log = log;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.#emit('warn', kind, fields, msg);
  }

  error(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.#emit('error', kind, fields, msg);
  }

  #emit(level: Level, kind: string, fields: Record<string, unknown>, msg: string): void {
    let k = this.#kinds.get(kind);
    if (!k) this.#kinds.set(kind, (k = { until: 0, suppressed: 0, timer: undefined, last: undefined }));
    const now = this.#now();
    if (now < k.until) {
      k.suppressed++;
      k.last = { level, fields, msg };
      return;
    }
    const suppressed = k.suppressed;
    k.suppressed = 0;
    k.last = undefined;
    k.until = now + this.#windowMs;
    this.#log[level](suppressed > 0 ? { ...fields, kind, suppressed } : { ...fields, kind }, msg);
    clearTimeout(k.timer);
    // Whatever is suppressed in this window is reported when it ends, even if no further one comes.
    k.timer = setTimeout(() => this.#close(kind), this.#windowMs).unref();
  }

  #close(kind: string): void {
    const k = this.#kinds.get(kind);
    if (!k) return;
    k.timer = undefined;
    if (k.suppressed === 0 || !k.last) {
      this.#kinds.delete(kind);
      return;
    }
    const { level, fields, msg } = k.last;
    const suppressed = k.suppressed;
    k.suppressed = 0;
    k.last = undefined;
    k.until = 0;
    this.#log[level]({ ...fields, kind, suppressed }, `${msg} (${suppressed} more in the last ${this.#windowMs / 1000} s)`);
  }
}
