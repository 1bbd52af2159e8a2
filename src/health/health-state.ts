/**
 * The health of one backend as a pure state machine with HAProxy's
 * thresholds: an 'up' backend goes 'down' after `fall` consecutive failed
 * observations, a 'down' one comes back after `rise` consecutive passing
 * ones. No clock, no I/O: the caller feeds it outcomes and acts on flips.
 */
import type { Health } from '../backends/backend.ts';

export interface Thresholds {
  /** Consecutive successes that bring a 'down' backend back. At least 1. */
  readonly rise: number;
  /** Consecutive failures that take an 'up' backend down. At least 1. */
  readonly fall: number;
}

export type Observation = 'unchanged' | 'changed';

export class HealthState {
  readonly #rise: number;
  readonly #fall: number;
  #status: Health;
  /** Consecutive outcomes that go against the current status. */
  #streak = 0;
  /** Set by an ejection: the next success readmits at once, without waiting for `rise`. */
  #readmitOnPass = false;

  constructor({ rise, fall }: Thresholds, initial: Health = 'unknown') {
    if (!(rise >= 1 && fall >= 1)) throw new RangeError(`rise and fall must be at least 1 (got ${rise}, ${fall})`);
    this.#rise = rise;
    this.#fall = fall;
    this.#status = initial;
  }

  get status(): Health {
    return this.#status;
  }

  /**
   * Feeds one outcome. 'unknown' settles on the first outcome either way, so a
   * new backend takes traffic as soon as it passes once.
   */
  observe(ok: boolean): Observation {
    const status = this.#status;
    if (status === 'unknown') return this.#set(ok ? 'up' : 'down');
    if (ok && this.#readmitOnPass) return this.#set('up');
    // A failing probe after an ejection is the probes' own verdict: from now on `rise` applies.
    if (!ok) this.#readmitOnPass = false;
    if (ok === (status === 'up')) {
      this.#streak = 0;
      return 'unchanged';
    }
    this.#streak++;
    if (this.#streak < (ok ? this.#rise : this.#fall)) return 'unchanged';
    return this.#set(ok ? 'up' : 'down');
  }

  /**
   * Takes the backend down now, whatever the streak (passive ejection). Its
   * first passing observation afterwards readmits it.
   */
  eject(): Observation {
    this.#readmitOnPass = true;
    return this.#set('down');
  }

  #set(status: Health): Observation {
    this.#streak = 0;
    if (status !== 'down') this.#readmitOnPass = false;
    if (status === this.#status) return 'unchanged';
    this.#status = status;
    return 'changed';
  }
}
