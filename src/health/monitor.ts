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
  /** Ejections not made because `passive.maxEjectedPercent` of the backends were ejected already. */
  ejectionsCapped = 0;
}

/** What passive health needs: take a backend out now, for a while. */
export interface Ejector {
  eject(backend: Backend, durationMs: number, reason: string): void;
  /** Backends of the service whose ejection is running now. */
  ejectedCount(): number;
  /** An ejection `maxEjectedPercent` refused; counted and logged. */
  ejectionCapped?(backend: Backend, reason: string): void;
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
  /** The active checks' own verdict (rise/fall on probe results alone): what `failedActiveCheck` shows. */
  readonly active: HealthState;
  /** Consecutive probe results alike (passing or failing), for "(3 in a row)". */
  streak: number;
  lastOk: boolean | undefined;
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
    this.#recordActive(backend, entry, result);
    if (entry.ejectedUntil !== 0) {
      if (this.#now() < entry.ejectedUntil) return;
      entry.ejectedUntil = 0;
      backend.ejectedUntil = 0;
    }
    if (entry.state.observe(result.ok) === 'changed') {
      const why = result.ok ? `active check passed: ${result.reason}` : `active check failed: ${withErrno(result.reason)}`;
      this.#flip(backend, entry.state.status, result.reason, why);
    }
  }

  /**
   * Takes `backend` down now for `durationMs`. After that, the first passing
   * probe brings it back (or, without probes, the end of the ejection does).
   */
  eject(backend: Backend, durationMs: number, reason: string): void {
    if (backend.removed) return;
    const entry = this.#entry(backend);
    entry.ejectedUntil = this.#now() + durationMs;
    backend.ejectedUntil = entry.ejectedUntil;
    this.#stats.ejections++;
    backend.ejections++;
    if (entry.state.eject() === 'changed') this.#flip(backend, 'down', `${reason}; ejected for ${durationMs}ms`, `ejected: ${reason}`);
    if (this.#activeChecks) return;
    clearTimeout(entry.readmitTimer);
    entry.readmitTimer = setTimeout(() => {
      entry.readmitTimer = undefined;
      entry.ejectedUntil = 0;
      backend.ejectedUntil = 0;
      if (entry.state.observe(true) === 'changed') this.#flip(backend, 'up', 'ejection ended (active checks off)', 'ejection ended (active checks off)');
    }, durationMs).unref();
  }

  ejectionCapped(backend: Backend, reason: string): void {
    this.#stats.ejectionsCapped++;
    this.#log.warn({ backend: backend.key, reason }, 'backend not ejected: too many ejected already');
  }

  ejectedCount(): number {
    const now = this.#now();
    let n = 0;
    for (const [backend, entry] of this.#entries) if (!backend.removed && entry.ejectedUntil > now) n++;
    return n;
  }

  /** The active check's flag and text on the backend, apart from ejection (Envoy keeps them apart too). */
  #recordActive(backend: Backend, entry: Entry, result: ProbeResult): void {
    entry.streak = entry.lastOk === result.ok ? entry.streak + 1 : 1;
    entry.lastOk = result.ok;
    entry.active.observe(result.ok);
    backend.failedActiveCheck = entry.active.status === 'down';
    backend.activeCheck = result.ok ? `passing (${result.reason})` : `failed: ${describeReason(result.reason)} (${entry.streak} in a row)`;
  }

  /** Stops every pending readmission. Idempotent. */
  close(): void {
    this.#registry.off('removed', this.#onRemoved);
    for (const backend of [...this.#entries.keys()]) this.#forget(backend);
  }

  #entry(backend: Backend): Entry {
    let entry = this.#entries.get(backend);
    if (!entry) {
      const active = new HealthState(this.#thresholds, backend.failedActiveCheck ? 'down' : backend.activeCheck === null ? 'unknown' : 'up');
      entry = { state: new HealthState(this.#thresholds, backend.health), active, streak: 0, lastOk: undefined, ejectedUntil: 0, readmitTimer: undefined, localError: false };
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

  /** `reason` goes to the log as it always has (the probe's word: 'ECONNREFUSED'); `why` is the sentence the API and the dashboard show. */
  #flip(backend: Backend, to: Health, reason: string, why: string): void {
    const from = backend.health;
    this.#registry.setHealth(backend, to, why);
    this.#stats.flips++;
    const fields = { backend: backend.key, from, to, reason };
    if (to === 'down') this.#log.warn(fields, 'backend health changed');
    else this.#log.info(fields, 'backend health changed');
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'name not found',
  EAI_AGAIN: 'name lookup failed (try again)',
  EPIPE: 'connection closed while sending',
};

/** "connection refused (ECONNREFUSED)" for an errno, other reasons as they are. */
function withErrno(reason: string): string {
  const words = REASONS[reason];
  return words === undefined ? reason : `${words} (${reason})`;
}

/** An errno as words for the API ("connection refused"); other reasons as they are. */
export function describeReason(reason: string): string {
  return REASONS[reason] ?? reason;
}
