/**
 * The one place that decides a backend's health. Probe results (active) and
 * ejections (passive) come in here; flips go out to the registry, logged once
 * with from, to and reason, and counted. Nothing is logged while a state holds.
 */
import type { Backend, Health } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { Logger } from '../observability/log.ts';
import { HealthState, type Thresholds } from './health-state.ts';
import type { ProbeResult } from './probe.ts';

/** Counters of the health subsystem; metrics read them when scraped. */
export class HealthStats {
  /** Health transitions applied to the registry (unknown → up included). */
  flips = 0;
  /** Passive ejections (connect failures on real traffic). */
  ejections = 0;
}

/** What passive health needs: take a backend out now, for a while. */
export interface Ejector {
  eject(backend: Backend, durationMs: number, reason: string): void;
}

export interface HealthMonitorOptions {
  readonly registry: Registry;
  readonly log: Logger;
  readonly stats: HealthStats;
  readonly thresholds: Thresholds;
  /**
   * Whether probes run. Without them nothing would ever bring an ejected
   * backend back, so the monitor readmits it itself when the ejection ends.
   */
  readonly activeChecks: boolean;
  readonly now?: () => number;
}

interface Entry {
  readonly state: HealthState;
  /** While an ejection lasts (epoch ms), probe results are ignored; 0 when not ejected. */
  ejectedUntil: number;
  readmitTimer: NodeJS.Timeout | undefined;
  /** The last probe failed for a local reason; keeps the log to one line per episode. */
  localError: boolean;
}

export class HealthMonitor implements Ejector {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #stats: HealthStats;
  readonly #thresholds: Thresholds;
  readonly #activeChecks: boolean;
  readonly #now: () => number;
  readonly #entries = new Map<Backend, Entry>();
  readonly #onRemoved = (backend: Backend) => this.#forget(backend);

  constructor(options: HealthMonitorOptions) {
    this.#registry = options.registry;
    this.#log = options.log;
    this.#stats = options.stats;
    this.#thresholds = options.thresholds;
    this.#activeChecks = options.activeChecks;
    this.#now = options.now ?? Date.now;
    this.#registry.on('removed', this.#onRemoved);
  }

  /**
   * A probe finished. During an ejection its result does not count, passing or not;
   * nor does a probe that failed for want of local resources (descriptors, memory):
   * running out of them is this host's trouble, and marking healthy backends down
   * (then panicking) would only add to it. Logged once per backend while it lasts.
   */
  report(backend: Backend, result: ProbeResult): void {
    if (backend.removed) return;
    const entry = this.#entry(backend);
    if (result.local) {
      if (!entry.localError) this.#log.warn({ backend: backend.key, reason: result.reason }, 'health probe could not be made (local error); not counted');
      entry.localError = true;
      return;
    }
    entry.localError = false;
    if (entry.ejectedUntil !== 0) {
      if (this.#now() < entry.ejectedUntil) return;
      entry.ejectedUntil = 0;
    }
    if (entry.state.observe(result.ok) === 'changed') this.#flip(backend, entry.state.status, result.reason);
  }

  /**
   * Takes `backend` down now for `durationMs`. After that, the first passing
   * probe brings it back (or, without probes, the end of the ejection does).
   */
  eject(backend: Backend, durationMs: number, reason: string): void {
    if (backend.removed) return;
    const entry = this.#entry(backend);
    entry.ejectedUntil = this.#now() + durationMs;
    this.#stats.ejections++;
    if (entry.state.eject() === 'changed') this.#flip(backend, 'down', `${reason}; ejected for ${durationMs}ms`);
    if (this.#activeChecks) return;
    clearTimeout(entry.readmitTimer);
    entry.readmitTimer = setTimeout(() => {
      entry.readmitTimer = undefined;
      entry.ejectedUntil = 0;
      if (entry.state.observe(true) === 'changed') this.#flip(backend, 'up', 'ejection ended (active checks off)');
    }, durationMs).unref();
  }

  /** Stops every pending readmission. Idempotent. */
  close(): void {
    this.#registry.off('removed', this.#onRemoved);
    for (const backend of [...this.#entries.keys()]) this.#forget(backend);
  }

  #entry(backend: Backend): Entry {
    let entry = this.#entries.get(backend);
    if (!entry) {
      entry = { state: new HealthState(this.#thresholds, backend.health), ejectedUntil: 0, readmitTimer: undefined, localError: false };
      this.#entries.set(backend, entry);
    }
    return entry;
  }

  #forget(backend: Backend): void {
    const entry = this.#entries.get(backend);
    if (!entry) return;
    clearTimeout(entry.readmitTimer);
    this.#entries.delete(backend);
  }

  #flip(backend: Backend, to: Health, reason: string): void {
    const from = backend.health;
    this.#registry.setHealth(backend, to);
    this.#stats.flips++;
    const fields = { backend: backend.key, from, to, reason };
    if (to === 'down') this.#log.warn(fields, 'backend health changed');
    else this.#log.info(fields, 'backend health changed');
  }
}
